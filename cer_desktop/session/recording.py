"""Recording a live session: a `SessionRecorder` sink with the session's metadata, its
start, stop and failure as session events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cer_desktop.contracts import Severity, StatusKind, status
from cer_desktop.session.events import (
    MarkerAdded,
    RecordingFailed,
    RecordingStarted,
    RecordingStopped,
    SessionEvent,
    StatusReported,
)
from cer_desktop.session.recognizers import manifest_fields

if TYPE_CHECKING:
    from cer_desktop.pipeline.pipeline import Pipeline


class RecordingHost(Protocol):
    """What a recording needs of the session it records (`LiveSession` is one): no import of
    the session, so the two modules make no circle."""

    @property
    def source_spec(self) -> str: ...

    @property
    def smoothing(self) -> float: ...

    @property
    def source_fps(self) -> float: ...

    @property
    def max_faces(self) -> int: ...

    def crop_size(self) -> int: ...

    def pipeline_for_recording(self) -> Pipeline | None: ...

    def emit(self, event: SessionEvent) -> None: ...

    def subscribe(self, callback: Callable[[SessionEvent], None]) -> Callable[[], None]: ...

    def defer(self, fn: Callable[[], None]) -> None: ...


log = logging.getLogger(__name__)

REMOTE_KINDS = (StatusKind.REMOTE_UNREACHABLE, StatusKind.REMOTE_RECONNECTED)


class SessionRecording:
    """The recording part of a `LiveSession` (`session.recording`). Thread-safe.

    The recorder's policy is DROP_WHEN_FULL live (recorder.py): capture and the view never
    wait for the disk; drops are counted (`frames_dropped`) and shown.
    """

    def __init__(self, session: RecordingHost) -> None:
        self._session = session
        self._lock = threading.RLock()
        self._recorder: Any = None
        self._folder: Path | None = None
        self._t0 = 0.0
        # the recognizer's own events (a remote server lost and back) reach the recording's
        # events.jsonl, so the frames the instant tier labelled are found by frame number too
        session.subscribe(self._note_status)
        # LSL's clock minus the capture clock while the session streams to LSL (set by
        # session.streams): recordings started then get frames.csv's `lsl_time` column.
        self.lsl_clock_offset: float | None = None

    @property
    def active(self) -> bool:
        return self._recorder is not None

    @property
    def folder(self) -> Path | None:
        return self._folder if self._recorder is not None else None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0 if self._recorder is not None else 0.0

    @property
    def frames_dropped(self) -> int:
        rec = self._recorder
        return int(getattr(rec, "frames_dropped", 0) or 0) if rec is not None else 0

    @property
    def recorder(self) -> Any:
        """The running `SessionRecorder` (its counters, for benchmarks and tests), or None."""
        return self._recorder

    def start(
        self,
        root: str | Path,
        *,
        record_raw: bool = False,
        extra: dict[str, Any] | None = None,
        new_folder: bool = True,
        **recorder_options: Any,
    ) -> Path | None:
        """Record the running session into a new folder under `root` (with `new_folder`
        False: into `root` itself); the folder, or None (with a `RecordingFailed` event) when
        it cannot start. `extra` goes to the manifest (the model settings chosen); what
        really runs is added from the recognizer. `recorder_options` go to the
        `SessionRecorder` (`queue_size`, `preset`, `lease_interval_s`)."""
        s = self._session
        with self._lock:
            if self._recorder is not None:
                return self._folder
            pipeline = s.pipeline_for_recording()
            if pipeline is None:
                self._failed(None, "Nothing to record: the session is not running")
                return None
            try:
                from cer_desktop.recording.recorder import SessionRecorder, new_session_folder
            except ImportError as exc:
                self._failed(None, f"Recording is not available: {exc}")
                return None
            folder = new_session_folder(root) if new_folder else Path(root)
            manifest = {
                "source": s.source_spec,
                "smoothing": s.smoothing,
                "max_faces": s.max_faces,
                "crop_size": s.crop_size(),
                **(extra or {}),
                # what actually runs (a model that failed to load leaves the instant tier)
                **manifest_fields(pipeline.recognizer, pipeline.label_set),
            }
            rec: Any = None
            try:
                rec = SessionRecorder(
                    folder,
                    record_raw=record_raw,
                    fps=s.source_fps,
                    manifest_extra=manifest,
                    on_error=lambda event: self._on_writer_error(rec, event.message),
                    lsl_clock_offset=self.lsl_clock_offset,
                    **recorder_options,
                )
            except Exception as exc:
                self._failed(folder, f"Cannot record to {folder}: {exc}")
                return None
            # first: a slow output the session was given (a stream) never delays the disk
            pipeline.add_sink(rec, first=True)
            self._recorder, self._folder, self._t0 = rec, folder, time.monotonic()
            event = status(
                StatusKind.RECORDING_STARTED, f"Recording to {folder}", folder=str(folder)
            )
            s.emit(RecordingStarted(folder, event))
            return folder

    def stop(self, *, error: str = "") -> RecordingStopped | None:
        """Finish the recording (None when none was running)."""
        s = self._session
        with self._lock:
            rec, self._recorder = self._recorder, None
            if rec is None:
                return None
            folder = self._folder or Path(rec.folder)
            pipeline = s.pipeline_for_recording()
            if pipeline is not None:
                pipeline.remove_sink(rec)
            try:
                rec.close()
            except Exception as exc:
                self._failed(folder, f"Finishing the recording failed: {exc}")
                return None
            if error:
                self._failed(folder, f"Recording stopped: {error}")
                return None
            written = int(getattr(rec, "frames_written", 0) or 0)
            dropped = int(getattr(rec, "frames_dropped", 0) or 0)
            message = f"Recorded {written} frames to {folder}" + (
                f" ({dropped} dropped)" if dropped else ""
            )
            event = status(
                StatusKind.RECORDING_STOPPED,
                message,
                Severity.WARNING if dropped else Severity.INFO,
                folder=str(folder),
                frames_written=written,
                frames_dropped=dropped,
            )
            stopped = RecordingStopped(folder, written, dropped, event)
            s.emit(stopped)
            return stopped

    def add_marker(
        self,
        note: str = "",
        *,
        source: str = "user",
        t_capture: float | None = None,
        lsl_time: float | None = None,
        **fields: Any,
    ) -> bool:
        """A marker with an optional note in the recording's events; False when none runs.

        `source` is "user" (Ctrl+M) or "lsl" (an experiment's marker stream); `t_capture`
        places the marker at its own time, `fields` are logged with it. Every marker, recorded
        or not, is announced as a `MarkerAdded` event (the streams and the timeline show it)."""
        rec = self._recorder
        if rec is not None:
            extra = dict(fields)
            if source != "user":
                extra["source"] = source
            if lsl_time is not None:
                extra["lsl_time"] = lsl_time
            rec.add_marker(note, t_capture=t_capture, **extra)
        who = "LSL marker" if source == "lsl" else "Marker"
        message = f"{who}{': ' + note if note else ''}"
        event = status(StatusKind.MARKER, message, source=source, recorded=rec is not None)
        self._session.emit(MarkerAdded(note, source, rec is not None, event, lsl_time, t_capture))
        return rec is not None

    def _note_status(self, event: SessionEvent) -> None:
        rec = self._recorder
        # only the recognizer's: the pipeline hands source gaps to its sinks itself
        if (
            rec is not None
            and isinstance(event, StatusReported)
            and event.status.kind in REMOTE_KINDS
        ):
            note = getattr(rec, "note_status", None)
            if callable(note):
                note(event.status)

    def note_change(self, setting: str, **fields: Any) -> dict[str, Any] | None:
        """Log a setting changed while recording (the recording goes on in the same folder);
        the logged event (with the frame after which it applies), or None when none runs."""
        rec = self._recorder
        if rec is None:
            return None
        result: dict[str, Any] = rec.note_change(setting, **fields)
        return result

    def _on_writer_error(self, rec: Any, message: str) -> None:
        # On the recorder's writer thread: closing it there would join itself.
        def stop_failed() -> None:
            with self._lock:
                if self._recorder is rec and rec is not None:
                    self.stop(error=str(message))

        self._session.defer(stop_failed)

    def _failed(self, folder: Path | None, message: str) -> None:
        log.warning("%s", message)
        payload = {"folder": str(folder)} if folder is not None else {}
        event = status(StatusKind.RECORDING_FAILED, message, Severity.ERROR, **payload)
        self._session.emit(RecordingFailed(folder, message, event))
