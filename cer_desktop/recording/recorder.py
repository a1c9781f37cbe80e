"""A recording session: the pipeline's sink that writes video, CSV, events and manifest.

Policy (DESIGN.md, sinks.DeliveryPolicy): live, `submit()` never waits; painted frames go
through a bounded queue to one writer thread, and a full queue drops the frame, counts it and
records why (the target is zero). Offline (`block=True`), `submit()` waits for room, so every
frame is written. The writer flushes and fsyncs the CSV and the videos at least every
`flush_interval_s` (0.5 s) and records progress in the manifest, so `kill -9` loses at most
about a second (the video's last, unfinished fragment); `recover_session` repairs the rest.
A disk error (full disk, no permission) stops the recording cleanly: `.error` says why,
everything written stays readable, the pipeline keeps running and `submit()` returns False.

Files in the session folder: `annotated.mp4` (the painted frames, what the user saw),
`raw.mp4` (optional, the camera frames), `frames.csv` (+ `frames.partN.csv` after a label-set
change), `events.jsonl` (markers and notes), `manifest.json`.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.contracts import Annotation
from cer_desktop.pipeline.sinks import DeliveryPolicy
from cer_desktop.recording.csvlog import CsvLog
from cer_desktop.recording.events import EVENTS_FILE, EventLog
from cer_desktop.recording.manifest import (
    MANIFEST_FILE,
    STATUS_COMPLETE,
    STATUS_FAILED,
    new_manifest,
    now_iso,
    write_manifest,
)
from cer_desktop.recording.video import VideoWriter

log = logging.getLogger(__name__)

ANNOTATED_VIDEO = "annotated.mp4"
RAW_VIDEO = "raw.mp4"
# Drop reasons written to the manifest.
DROP_QUEUE_FULL = "queue_full"  # the writer fell behind capture (live only)
DROP_WRITE_ERROR = "write_error"  # frames queued when a disk error stopped the recording


class RecordingError(RuntimeError):
    """A session that cannot start (folder not writable, already holds a session)."""


def new_session_folder(root: str | os.PathLike[str], prefix: str = "session") -> Path:
    """A fresh, not yet existing folder under `root` named by the local start time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{prefix}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def describe_os_error(exc: BaseException, folder: Path) -> str:
    """A message a user understands for a write failure."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full: no space left in {folder}"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write to {folder}: permission denied"
    if code == errno.EROFS:
        return f"cannot write to {folder}: read-only file system"
    if code == errno.ENOENT:
        return f"the recording folder {folder} disappeared"
    return f"writing to {folder} failed: {exc}"


class SessionRecorder:
    """An `AnnotationSink` that records a session into `folder` (created if needed).

    Args:
        folder: the session folder; must not already hold a session (`manifest.json`).
        record_raw: also write the raw camera frames (`raw.mp4`).
        fps: the nominal frame rate (the encoder's rate control and the key-frame interval;
            time stamps come from capture times, so variable frame rates are exact).
        queue_size: frames the writer may fall behind before live frames are dropped.
        manifest_extra: fields for the manifest (model, adapter, quantisation, prompt,
            source, ...), merged over the defaults.
        block: offline mode (`DeliveryPolicy.BLOCK_WHEN_FULL`): `submit` waits for room.
        preset: the libx264 preset.
        flush_interval_s: how often the writer makes data durable (at most 1 s).
        on_error: called once from the writer thread with the message when recording stops
            itself (the GUI should hop to its own thread).

    Raises `RecordingError` when the folder cannot be created or written.
    `submit(annotation, painted)` hands over `painted` without copying: the caller must not
    modify it afterwards (the pipeline paints a new array per frame).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        record_raw: bool = False,
        fps: float = 30.0,
        queue_size: int = 64,
        manifest_extra: dict[str, Any] | None = None,
        block: bool = False,
        preset: str = "veryfast",
        flush_interval_s: float = 0.5,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.record_raw = record_raw
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.policy = DeliveryPolicy.BLOCK_WHEN_FULL if block else DeliveryPolicy.DROP_WHEN_FULL
        self.flush_interval_s = min(1.0, max(0.05, flush_interval_s))
        self._on_error = on_error
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(describe_os_error(exc, self.folder)) from exc
        if (self.folder / MANIFEST_FILE).exists():
            raise RecordingError(f"{self.folder} already holds a recorded session")
        self._manifest = new_manifest(manifest_extra)
        self._manifest.update(
            fps_nominal=self.fps,
            record_raw=record_raw,
            delivery_policy=self.policy.value,
            queue_size=queue_size,
            files={
                "annotated_video": ANNOTATED_VIDEO,
                "raw_video": RAW_VIDEO if record_raw else None,
                "csv": [],
                "events": EVENTS_FILE,
            },
        )
        try:
            write_manifest(self.folder, self._manifest)
            self._events = EventLog(self.folder / EVENTS_FILE)
            self._events.add("start", folder=str(self.folder))
        except OSError as exc:
            raise RecordingError(describe_os_error(exc, self.folder)) from exc

        self._queue: queue.Queue[tuple[int, Annotation, np.ndarray] | None] = queue.Queue(
            maxsize=max(1, queue_size)
        )
        self._lock = threading.Lock()
        self._t_start = time.monotonic()
        self._t_end: float | None = None
        self._accepted = 0  # frames put on the queue = index of the next video frame
        self._written = 0
        self._drops: Counter[str] = Counter()
        self._last_frame: tuple[int, int, float] | None = None  # (index, source id, t_capture)
        self._t0_capture: float | None = None
        self._error: str | None = None
        self._stopping = threading.Event()  # set by close() or by a failure
        self._closed = False
        self._writer_cpu_s = 0.0
        self._csv = CsvLog(self.folder)
        self._video = VideoWriter(self.folder / ANNOTATED_VIDEO, fps=self.fps, preset=preset)
        self._raw = (
            VideoWriter(self.folder / RAW_VIDEO, fps=self.fps, preset=preset)
            if record_raw
            else None
        )
        self._thread = threading.Thread(target=self._run, name="SessionRecorder", daemon=True)
        self._thread.start()

    # -- the pipeline side -------------------------------------------------------------
    def submit(
        self, annotation: Annotation, painted: np.ndarray, block: bool | None = None
    ) -> bool:
        """Queue one painted frame. Live: never waits, returns False when dropped (counted).

        `block` overrides the recorder's policy for this call. After `close()` or a failure
        every frame is refused (False) and not counted as dropped: the recording is over.
        """
        wait = self.policy is DeliveryPolicy.BLOCK_WHEN_FULL if block is None else block
        while True:
            # `_stopping` is checked and set under the lock, so no frame slips into the
            # queue after the writer was told to finish (it would be neither written nor
            # counted). Indices are given under the lock too: CSV `frame` = video index.
            with self._lock:
                if self._stopping.is_set():
                    return False
                index = self._accepted
                try:
                    self._queue.put_nowait((index, annotation, painted))
                except queue.Full:
                    if not wait:
                        self._drops[DROP_QUEUE_FULL] += 1
                        return False
                else:
                    if index == 0:
                        self._t0_capture = annotation.frame.t_capture
                    self._accepted += 1
                    self._last_frame = (
                        index,
                        annotation.frame.frame_id,
                        annotation.frame.t_capture,
                    )
                    return True
            # Offline and full: wait for room outside the lock, so the writer is never held up.
            time.sleep(0.002)

    def add_marker(self, note: str = "") -> dict[str, Any]:
        """Log a marker (with an optional note) at the newest recorded frame; returns it."""
        with self._lock:
            last = self._last_frame
        t0 = self._t0_capture
        fields: dict[str, Any] = {"note": str(note)}
        if last is not None:
            fields.update(
                frame=last[0],
                source_frame=last[1],
                t=round(last[2] - t0, 4) if t0 is not None else 0.0,
            )
        else:
            fields.update(frame=None, source_frame=None, t=None)
        fields["elapsed_s"] = round(self.elapsed_s, 3)
        try:
            return self._events.add("marker", **fields)
        except (OSError, ValueError) as exc:
            log.warning("could not log a marker: %s", exc)
            return {"type": "marker", **fields, "error": str(exc)}

    def close(self) -> None:
        """Write everything queued, finish the files and the manifest. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._stopping.set()
        # The writer drains the queue after `_stopping`; the sentinel only wakes it up.
        try:
            self._queue.put(None, timeout=0.1)
        except queue.Full:
            pass
        self._thread.join()
        self._t_end = time.monotonic()

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state the GUI shows -------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Seconds since the recording started (frozen once closed)."""
        end = self._t_end if self._t_end is not None else time.monotonic()
        return end - self._t_start

    @property
    def frames_written(self) -> int:
        return self._written

    @property
    def frames_submitted(self) -> int:
        with self._lock:
            return self._submitted_locked()

    def _submitted_locked(self) -> int:
        # Frames refused at the door were never accepted; frames lost to a write error were
        # (they are part of `_accepted`), so only the first kind adds to the count.
        return self._accepted + self._drops[DROP_QUEUE_FULL]

    @property
    def frames_dropped(self) -> int:
        with self._lock:
            return sum(self._drops.values())

    @property
    def drop_reasons(self) -> dict[str, int]:
        with self._lock:
            return dict(self._drops)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def error(self) -> str | None:
        """Why the recording stopped itself (disk full, ...), or None."""
        return self._error

    @property
    def is_recording(self) -> bool:
        return not self._stopping.is_set()

    @property
    def writer_cpu_s(self) -> float:
        """CPU seconds the writer thread has used (encoding, CSV, fsync)."""
        return self._writer_cpu_s

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)

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

    def _fail(self, exc: BaseException) -> None:
        message = (
            describe_os_error(exc, self.folder)
            if isinstance(exc, OSError)
            else f"recording stopped: {type(exc).__name__}: {exc}"
        )
        message += f" (recording stopped after {self._written} frames)"
        log.error("%s", message)
        self._error = message
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
        if self._on_error is not None:
            try:
                self._on_error(message)
            except Exception:  # noqa: BLE001 - a broken callback must not hide the error
                log.exception("recording error callback failed")
