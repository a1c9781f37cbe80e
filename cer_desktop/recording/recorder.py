"""A recording session: the pipeline's sink that writes video, CSV, events and manifest.

Policy (docs/architecture.md, sinks.DeliveryPolicy): live, `submit()` never waits; painted frames go
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

from cer_desktop.contracts import Annotation, StatusEvent, StatusKind
from cer_desktop.pipeline.sinks import DeliveryPolicy
from cer_desktop.recording.csvlog import CsvLog
from cer_desktop.recording.events import EVENTS_FILE, EventLog
from cer_desktop.recording.lease import DEFAULT_INTERVAL_S, Lease
from cer_desktop.recording.manifest import (
    MANIFEST_FILE,
    new_manifest,
    write_manifest,
)
from cer_desktop.recording.recorder_writer import SessionWriter
from cer_desktop.recording.session_files import (
    ANNOTATED_VIDEO,
    DROP_QUEUE_FULL,
    DROP_WRITE_ERROR,
    RAW_VIDEO,
    RecordingError,
    check_session_path,
    describe_os_error,
    new_session_folder,
)
from cer_desktop.recording.video import VideoWriter

__all__ = [
    "ANNOTATED_VIDEO",
    "DROP_QUEUE_FULL",
    "DROP_WRITE_ERROR",
    "RAW_VIDEO",
    "RecordingError",
    "SessionRecorder",
    "describe_os_error",
    "new_session_folder",
]

# the status events a recording logs in events.jsonl (at the newest recorded frame)
NOTED_KINDS = frozenset(
    {
        StatusKind.SOURCE_LOST,
        StatusKind.SOURCE_RESTORED,
        StatusKind.REMOTE_UNREACHABLE,
        StatusKind.REMOTE_RECONNECTED,
    }
)

log = logging.getLogger(__name__)


class SessionRecorder(SessionWriter):
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
        self._lease: Lease | None = None
        if lsl_clock_offset is not None:
            self._manifest["lsl_clock_offset"] = lsl_clock_offset
        try:
            # The lease exists before the manifest says "recording": recovery never sees a
            # session of this version being recorded without one.
            self._lease = Lease(self.folder, lease_interval_s)
            write_manifest(self.folder, self._manifest)
            self._events = EventLog(self.folder / EVENTS_FILE)
            self._events.add("start", folder=str(self.folder))
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
        self._written = 0
        self._drops: Counter[str] = Counter()
        self._last_frame: tuple[int, int, float] | None = None  # (index, source id, t_capture)
        self._t0_capture: float | None = None
        self._error: StatusEvent | None = None
        self._stopping = threading.Event()  # set by close() or by a failure
        self._closed = False
        self._writer_cpu_s = 0.0
        self._csv = CsvLog(self.folder, lsl_clock_offset)
        self._video = VideoWriter(self.folder / ANNOTATED_VIDEO, fps=self.fps, preset=preset)
        self._raw = (
            VideoWriter(self.folder / RAW_VIDEO, fps=self.fps, preset=preset)
            if record_raw
            else None
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

    def add_marker(
        self, note: str = "", *, t_capture: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Log a marker (with an optional note) at the newest recorded frame; returns it.

        `t_capture` (a capture-clock time, e.g. an experiment's LSL marker) gives the marker
        its own `t` instead of the newest frame's; `extra` fields are logged with it."""
        with self._lock:
            last = self._last_frame
        t0 = self._t0_capture
        fields: dict[str, Any] = {"note": str(note)}
        if last is not None:
            at = last[2] if t_capture is None else t_capture
            fields.update(
                frame=last[0],
                source_frame=last[1],
                t=round(at - t0, 4) if t0 is not None else 0.0,
            )
        else:
            fields.update(frame=None, source_frame=None, t=None)
        fields["elapsed_s"] = round(self.elapsed_s, 3)
        fields.update(extra)
        try:
            return self._events.add("marker", **fields)
        except (OSError, ValueError) as exc:
            log.warning("could not log a marker: %s", exc)
            return {"type": "marker", **fields, "error": str(exc)}

    def note_change(self, setting: str, **fields: Any) -> dict[str, Any]:
        """Log that `setting` changed while recording (a `setting` event: `frame` is the
        newest recorded frame, the change applies after it; `fields` say old and new). The
        recording goes on in the same folder."""
        with self._lock:
            last = self._last_frame
        t0 = self._t0_capture
        record: dict[str, Any] = {
            "setting": setting,
            "frame": last[0] if last is not None else None,
            "t": round(last[2] - t0, 4) if last is not None and t0 is not None else None,
            **fields,
        }
        try:
            return self._events.add("setting", **record)
        except (OSError, ValueError) as exc:
            log.warning("could not log the %s change: %s", setting, exc)
            return {"type": "setting", **record, "error": str(exc)}

    def note_status(self, event: StatusEvent) -> None:
        """Log a source gap (`SOURCE_LOST`, `SOURCE_RESTORED`) or a switch between a remote
        server and the instant tier standing in (`REMOTE_UNREACHABLE`, `REMOTE_RECONNECTED`)
        in the events log at the newest recorded frame. The recording goes on: frames after a
        gap keep their capture times, so the video shows the gap as a jump in time."""
        if event.kind not in NOTED_KINDS:
            return
        with self._lock:
            last = self._last_frame
        try:
            self._events.add(
                event.kind.value,
                frame=last[0] if last is not None else None,
                message=event.message,
                **dict(event.payload),
            )
        except (OSError, ValueError) as exc:
            log.warning("could not log %s: %s", event.kind.value, exc)

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
        return self._written

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
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)
