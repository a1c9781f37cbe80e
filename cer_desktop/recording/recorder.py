"""A recording session: the pipeline's sink that writes video, CSV, events and manifest.

Policy (docs/architecture.md, sinks.DeliveryPolicy): live, `submit()` never waits; painted frames go
through a bounded queue to one writer thread, and a full queue drops the frame, counts it and
records why (the target is zero). Offline (`block=True`), `submit()` waits for room, so every
frame is written. The writer flushes and fsyncs the CSV and the videos at least every
`flush_interval_s` (0.5 s) and records progress in the manifest, so `kill -9` loses at most
about a second (the video's last, unfinished fragment); `recover_session` repairs the rest.
A disk error (full disk, no permission) stops the recording cleanly: `.error` says why,
everything written stays readable, the pipeline keeps running and `submit()` returns False.

The files (the painted and raw videos, the CSV, events, manifest) are `SessionFiles`
(session_writer.py); their names are `session_folder.SessionPaths`'.
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

from cer_desktop.contracts import Annotation, StatusEvent
from cer_desktop.pipeline.priority import lower_this_thread
from cer_desktop.pipeline.sinks import DeliveryPolicy
from cer_desktop.recording.lease import DEFAULT_INTERVAL_S, Lease
from cer_desktop.recording.recorder_notes import RecordingNotes
from cer_desktop.recording.session_folder import (
    DROP_QUEUE_FULL,
    DROP_WRITE_ERROR,
    Manifest,
    RecordingError,
    SessionPaths,
    check_session_path,
    describe_os_error,
    new_session_folder,
)
from cer_desktop.recording.session_writer import DeliveryCounts, SessionFiles
from cer_desktop.recording.video import VideoWriter

__all__ = [
    "DROP_QUEUE_FULL",
    "DROP_WRITE_ERROR",
    "RecordingError",
    "SessionRecorder",
    "VideoWriter",
    "describe_os_error",
    "new_session_folder",
]

log = logging.getLogger(__name__)


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
        on_error: called once from the writer thread with a `StatusEvent` (kind
            `RECORDING_FAILED`, payload `reason`: "disk_full", "permission", "read_only",
            "folder_gone", "os_error" or "error") when recording stops itself (the GUI should
            hop to its own thread).
        lease_interval_s: how often the recording renews its lease (`lease.json`, which
            tells recovery on any machine that this session is still being written).
        lsl_clock_offset: LSL's clock minus the capture clock when the session streams to Lab
            Streaming Layer: frames.csv gets its `lsl_time` column (None: no column).

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
        on_error: Callable[[StatusEvent], None] | None = None,
        lease_interval_s: float = DEFAULT_INTERVAL_S,
        lsl_clock_offset: float | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.paths = SessionPaths(self.folder)
        self.record_raw = record_raw
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.policy = DeliveryPolicy.BLOCK_WHEN_FULL if block else DeliveryPolicy.DROP_WHEN_FULL
        self.flush_interval_s = min(1.0, max(0.05, flush_interval_s))
        self._on_error = on_error
        check_session_path(self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(describe_os_error(exc, self.folder)) from exc
        if self.paths.is_session():
            raise RecordingError(f"{self.folder} already holds a recorded session")
        manifest = Manifest.new(manifest_extra)
        manifest.update(
            fps_nominal=self.fps,
            record_raw=record_raw,
            delivery_policy=self.policy.value,
            queue_size=queue_size,
        )
        self._lease: Lease | None = None
        if lsl_clock_offset is not None:
            manifest.lsl_clock_offset = lsl_clock_offset
        try:
            # The lease exists before the manifest says "recording": recovery never sees a
            # session of this version being recorded without one.
            self._lease = Lease(self.folder, lease_interval_s)
            self._files = SessionFiles(
                self.paths,
                manifest,
                fps=self.fps,
                record_raw=record_raw,
                preset=preset,
                lsl_clock_offset=lsl_clock_offset,
            )
        except OSError as exc:
            if self._lease is not None:
                self._lease.release()
            raise RecordingError(describe_os_error(exc, self.folder)) from exc

        self._queue: queue.Queue[tuple[int, Annotation, np.ndarray] | None] = queue.Queue(
            maxsize=max(1, queue_size)
        )
        self._lock = threading.Lock()
        self._t_start = time.monotonic()
        self._t_end: float | None = None
        self._accepted = 0  # frames put on the queue = index of the next video frame
        self._drops: Counter[str] = Counter()
        self._last_frame: tuple[int, int, float] | None = None  # (index, source id, t_capture)
        self._t0_capture: float | None = None
        self._error: StatusEvent | None = None
        self._stopping = threading.Event()  # set by close() or by a failure
        self._closed = False
        self._writer_cpu_s = 0.0
        self._notes = RecordingNotes(
            self._files, self._newest, lambda: self._t0_capture, lambda: self.elapsed_s
        )
        self._thread = threading.Thread(target=self._run, name="cer-recorder", daemon=True)
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

    def _newest(self) -> tuple[int | None, int | None, float | None]:
        """(index, source frame id, capture time) of the newest recorded frame; Nones
        before the first."""
        with self._lock:
            last = self._last_frame
        return (None, None, None) if last is None else last

    # -- events at the newest recorded frame (recorder_notes.py) -------------------------
    def add_marker(self, note: str = "", **kwargs: Any) -> dict[str, Any]:
        """A marker in events.jsonl (`RecordingNotes.add_marker`)."""
        return self._notes.add_marker(note, **kwargs)

    def note_change(self, setting: str, **fields: Any) -> dict[str, Any]:
        """A setting changed while recording (`RecordingNotes.note_change`)."""
        return self._notes.note_change(setting, **fields)

    def note_status(self, event: StatusEvent) -> None:
        """A source gap or a remote-server switch (`RecordingNotes.note_status`)."""
        self._notes.note_status(event)

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
        self._release_lease()  # the writer released it; again in case it died first
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
        return self._files.written

    @property
    def frames_dropped(self) -> int:
        with self._lock:
            return sum(self._drops.values())

    @property
    def frames_submitted(self) -> int:
        with self._lock:
            return self._submitted_locked()

    @property
    def drop_reasons(self) -> dict[str, int]:
        with self._lock:
            return dict(self._drops)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def error(self) -> str | None:
        """Why the recording stopped itself (disk full, ...), for people; or None."""
        return self._error.message if self._error is not None else None

    @property
    def error_event(self) -> StatusEvent | None:
        """Why the recording stopped itself, typed (`payload["reason"]`), or None."""
        return self._error

    @property
    def is_recording(self) -> bool:
        return not self._stopping.is_set()

    @property
    def writer_cpu_s(self) -> float:
        """CPU seconds the writer thread has used (encoding, CSV, fsync)."""
        return self._writer_cpu_s

    @property
    def manifest(self) -> Manifest:
        """The manifest as the recorder last wrote it (the writer thread updates it)."""
        return self._files.manifest

    # -- the writer thread ---------------------------------------------------------------
    def _release_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def _submitted_locked(self) -> int:
        # Frames refused at the door were never accepted; frames lost to a write error were
        # (they are part of `_accepted`), so only the first kind adds to the count.
        return self._accepted + self._drops[DROP_QUEUE_FULL]

    def _counts(self) -> DeliveryCounts:
        with self._lock:
            return DeliveryCounts(self._submitted_locked(), dict(self._drops))

    def _run(self) -> None:
        if self.policy is DeliveryPolicy.DROP_WHEN_FULL:
            # Live: the encoder has its queue (`queue_size`); in a busy second it waits, not the view.
            lower_this_thread()
        cpu0 = time.thread_time()
        last_flush = time.monotonic()
        flushed = 0
        files = self._files
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    item = None
                    if not self._stopping.is_set():
                        # Idle: make the last frames durable once, then stay quiet.
                        if files.written != flushed and (
                            time.monotonic() - last_flush >= self.flush_interval_s
                        ):
                            files.flush(self._counts())
                            flushed, last_flush = files.written, time.monotonic()
                        continue
                if item is None:
                    if self._stopping.is_set() and self._queue.empty():
                        break
                    continue
                index, annotation, painted = item
                assert self._t0_capture is not None  # set when frame 0 was accepted
                files.write(
                    index, annotation, painted, annotation.frame.t_capture - self._t0_capture
                )
                if time.monotonic() - last_flush >= self.flush_interval_s:
                    files.flush(self._counts())
                    flushed, last_flush = files.written, time.monotonic()
                self._writer_cpu_s = time.thread_time() - cpu0
            files.finish(self._counts())
            self._release_lease()  # after "complete" is durable: recovery never meets a gap
        except Exception as exc:  # noqa: BLE001 - any failure ends the recording, not the app
            self._fail(exc)
        finally:
            self._writer_cpu_s = time.thread_time() - cpu0

    def _fail(self, exc: BaseException) -> None:
        written = self._files.written
        self._error = self._files.failure(exc)
        message = self._error.message
        log.error("%s", message)
        with self._lock:
            self._stopping.set()
        self._files.abort()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            # Every accepted frame not written (queued, or being written when it failed) is lost.
            lost = max(0, self._accepted - written)
            if lost:
                self._drops[DROP_WRITE_ERROR] += lost
        self._files.record_failure(self._counts(), message)
        self._release_lease()  # nothing writes any more: recovery may repair it
        if self._on_error is not None:
            try:
                self._on_error(self._error)
            except Exception:  # noqa: BLE001 - a broken callback must not hide the error
                log.exception("recording error callback failed")
