"""The writer side of a `SessionRecorder`: its thread, durability (flush) and failure handling.

Split from `recorder.py` by role: `SessionRecorder` is the pipeline's side (submit, close,
the counters the GUI shows); this mixin is the one thread that encodes, writes, flushes and,
on a disk error, stops the recording cleanly. The state is the recorder's, declared here.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.contracts import Annotation, Severity, StatusEvent, StatusKind, status
from cer_desktop.recording.csvlog import CsvLog
from cer_desktop.recording.events import EventLog
from cer_desktop.recording.lease import Lease
from cer_desktop.recording.manifest import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    now_iso,
    write_manifest,
)
from cer_desktop.recording.session_files import (
    DROP_QUEUE_FULL,
    DROP_WRITE_ERROR,
    describe_os_error,
    os_error_reason,
)
from cer_desktop.recording.video import VideoWriter

log = logging.getLogger(__name__)


class SessionWriter:
    """The writer thread of a session (a mixin of `SessionRecorder`, which sets the state)."""

    folder: Path
    flush_interval_s: float
    _on_error: Callable[[StatusEvent], None] | None
    _manifest: dict[str, Any]
    _events: EventLog
    _queue: queue.Queue[tuple[int, Annotation, np.ndarray] | None]
    _lock: threading.Lock
    _accepted: int
    _written: int
    _drops: Counter[str]
    _t0_capture: float | None
    _error: StatusEvent | None
    _stopping: threading.Event
    _writer_cpu_s: float
    _csv: CsvLog
    _video: VideoWriter
    _raw: VideoWriter | None
    _lease: Lease | None

    def _release_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    @property
    def frames_dropped(self) -> int:
        with self._lock:
            return sum(self._drops.values())

    def _submitted_locked(self) -> int:
        # Frames refused at the door were never accepted; frames lost to a write error were
        # (they are part of `_accepted`), so only the first kind adds to the count.
        return self._accepted + self._drops[DROP_QUEUE_FULL]

    # -- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        cpu0 = time.thread_time()
        last_flush = time.monotonic()
        flushed = 0
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    item = None
                    if not self._stopping.is_set():
                        # Idle: make the last frames durable once, then stay quiet.
                        if self._written != flushed and (
                            time.monotonic() - last_flush >= self.flush_interval_s
                        ):
                            self._flush()
                            flushed, last_flush = self._written, time.monotonic()
                        continue
                if item is None:
                    if self._stopping.is_set() and self._queue.empty():
                        break
                    continue
                self._write(*item)
                if time.monotonic() - last_flush >= self.flush_interval_s:
                    self._flush()
                    flushed, last_flush = self._written, time.monotonic()
                self._writer_cpu_s = time.thread_time() - cpu0
            self._finish()
        except Exception as exc:  # noqa: BLE001 - any failure ends the recording, not the app
            self._fail(exc)
        finally:
            self._writer_cpu_s = time.thread_time() - cpu0

    def _write(self, index: int, annotation: Annotation, painted: np.ndarray) -> None:
        frame = annotation.frame
        if index == 0:
            self._on_first_frame(annotation)
        assert self._t0_capture is not None  # set when frame 0 was accepted
        t = frame.t_capture - self._t0_capture
        self._video.write(painted, t)
        if self._raw is not None:
            self._raw.write(frame.image, t)
        parts_before = len(self._csv.parts)
        self._csv.write(annotation, index, t)
        if len(self._csv.parts) != parts_before and parts_before > 0:
            self._events.add(
                "label_set", frame=index, t=round(t, 4), label_set=annotation.label_set.name
            )
        for fa in annotation.faces:
            if fa.prediction is not None and fa.prediction.recognizer:
                seen = self._manifest.setdefault("recognizers_seen", [])
                if fa.prediction.recognizer not in seen:
                    seen.append(fa.prediction.recognizer)
        self._written += 1
        self._manifest["last_t"] = t

    def _on_first_frame(self, annotation: Annotation) -> None:
        m = self._manifest
        if not m.get("source"):
            m["source"] = annotation.frame.source or None
        m["frame_size"] = list(annotation.frame.size)
        m["first_frame_wall_time"] = annotation.frame.wall_time.isoformat(timespec="milliseconds")
        if not m.get("label_set"):
            m["label_set"] = annotation.label_set.name
            m["labels"] = list(annotation.label_set.labels)
        write_manifest(self.folder, m)

    def _update_manifest(self) -> None:
        m = self._manifest
        m["frames_written"] = self._written
        # The mp4 muxer holds the newest packet back until the next one (it needs its duration),
        # so the video file on disk holds one frame fewer than written until it is closed.
        m["video_frames_durable"] = max(0, self._written - 1)
        m["csv_rows"] = self._csv.rows_written
        m["files"]["csv"] = [p.name for p in self._csv.parts]
        m["label_sets"] = list(self._csv.part_label_sets)
        with self._lock:
            m["frames_submitted"] = self._submitted_locked()
            m["frames_dropped"] = sum(self._drops.values())
            m["drop_reasons"] = dict(self._drops)
        last_t = float(m.get("last_t") or 0.0)
        m["duration_s"] = round(last_t, 4)
        m["fps_measured"] = round((self._written - 1) / last_t, 3) if last_t > 0 else None

    def _flush(self) -> None:
        # Order matters for recovery: the CSV is durable before the manifest claims its frames.
        self._csv.flush(sync=True)
        for v in (self._video, self._raw):
            if v is not None and v.path.exists():
                fd = os.open(v.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._update_manifest()
        write_manifest(self.folder, self._manifest)

    def _finish(self) -> None:
        self._video.close()
        if self._raw is not None:
            self._raw.close()
        self._csv.close()
        self._update_manifest()
        self._manifest.update(
            status=STATUS_COMPLETE, ended_at=now_iso(), video_frames_durable=self._written
        )
        self._events.add("stop", frames_written=self._written, frames_dropped=self.frames_dropped)
        self._events.close()
        write_manifest(self.folder, self._manifest)
        self._release_lease()  # after "complete" is durable: recovery never meets a gap

    def _fail(self, exc: BaseException) -> None:
        message = (
            describe_os_error(exc, self.folder)
            if isinstance(exc, OSError)
            else f"recording stopped: {type(exc).__name__}: {exc}"
        )
        message += f" (recording stopped after {self._written} frames)"
        log.error("%s", message)
        self._error = status(
            StatusKind.RECORDING_FAILED,
            message,
            Severity.ERROR,
            reason=os_error_reason(exc),
            folder=str(self.folder),
            frames_written=self._written,
        )
        with self._lock:
            self._stopping.set()
        # Close what we can: a fragmented MP4 stays readable up to its last fragment.
        self._video.abort()
        if self._raw is not None:
            self._raw.abort()
        self._csv.abort()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            # Every accepted frame not written (queued, or being written when it failed) is lost.
            lost = max(0, self._accepted - self._written)
            if lost:
                self._drops[DROP_WRITE_ERROR] += lost
        try:
            self._update_manifest()
            self._manifest.update(status=STATUS_FAILED, ended_at=now_iso(), error=message)
            write_manifest(self.folder, self._manifest)
        except Exception as exc2:  # noqa: BLE001 - the disk may be full; the message stays in memory
            log.debug("could not finalise the manifest: %s", exc2)
        try:
            self._events.add("error", message=message)
        except Exception:  # noqa: BLE001
            pass
        self._events.close()
        self._release_lease()  # nothing writes any more: recovery may repair it
        if self._on_error is not None:
            try:
                self._on_error(self._error)
            except Exception:  # noqa: BLE001 - a broken callback must not hide the error
                log.exception("recording error callback failed")
