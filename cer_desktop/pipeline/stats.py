"""What a pipeline run did: the stats snapshot, its messages and why it ended, rates, medians."""

from __future__ import annotations

import dataclasses
import enum
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cer_desktop.contracts import Severity, StatusEvent, StatusKind, status

log = logging.getLogger(__name__)


class EndReason(enum.StrEnum):
    """Why a pipeline run ended (consumers branch on this, never on a message)."""

    RUNNING = "running"  # not ended (yet)
    END_OF_SOURCE = "end_of_source"  # a file or folder was read to its end
    SOURCE_ERROR = "source_error"  # the source could not be opened or stopped delivering
    STOPPED = "stopped"  # asked to stop (`stop()`, `request_stop()`)


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """A snapshot of what the pipeline did, for the status bar, benchmarks and reports."""

    running: bool = False
    capture_fps: float = 0.0
    display_fps: float = 0.0
    frames_captured: int = 0
    frames_painted: int = 0
    frames_displayed: int = 0
    display_replaced: int = 0  # painted frames the display never showed (newest-only policy)
    frames_without_face: int = 0
    recognizer: str = ""
    recognizer_latency_ms: float = 0.0  # median over recent calls
    recognizer_latency_last_ms: float = 0.0
    recognizer_calls: int = 0
    recognizer_replaced: int = 0  # requests replaced by newer ones (newest-wins policy)
    recognizer_errors: int = 0
    fallback_calls: int = 0
    frames_dropped_by_sinks: Mapping[str, int] = field(default_factory=dict)
    capture_to_paint_ms_median: float = 0.0
    landmarks_ms_median: float = 0.0
    align_ms_median: float = 0.0
    last_error: str = ""
    message: str = ""
    end_reason: EndReason = EndReason.RUNNING

    @classmethod
    def compose(cls, running: bool, worker: Any, *snapshots: Mapping[str, Any]) -> PipelineStats:
        """The pipeline's snapshot from its worker's stats and its parts' snapshot dicts."""
        merged: dict[str, Any] = {}
        for snap in snapshots:
            merged.update(snap)
        return cls(
            running=running,
            recognizer=worker.recognizer,
            recognizer_latency_ms=worker.latency_ms_median,
            recognizer_latency_last_ms=worker.latency_ms_last,
            recognizer_calls=worker.calls,
            recognizer_replaced=worker.replaced,
            recognizer_errors=worker.errors,
            fallback_calls=worker.fallback_calls,
            **merged,
        )

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as a plain dict (for JSON)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["frames_dropped_by_sinks"] = dict(self.frames_dropped_by_sinks)
        d["end_reason"] = self.end_reason.value
        return d

    @property
    def dropped_total(self) -> int:
        """Frames dropped by policy anywhere a frame is meant to be kept (sinks)."""
        return int(sum(self.frames_dropped_by_sinks.values()))


class Rate:
    """Events per second over a sliding window (thread-safe)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            self._t.append(t)
            while self._t and t - self._t[0] > self.window_s:
                self._t.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._t and now - self._t[0] > self.window_s:
                self._t.popleft()
            if len(self._t) < 2:
                return 0.0
            span = max(self._t[-1] - self._t[0], 1e-6)
            return (len(self._t) - 1) / span


def median(values: Iterable[float]) -> float:
    """The median, 0.0 for no values."""
    v = list(values)
    return float(statistics.median(v)) if v else 0.0


class RunStatus:
    """A run's messages: reports typed status events, keeps the last message and error, and
    knows why the run ended (thread-safe)."""

    def __init__(
        self,
        on_status: Callable[[StatusEvent], None] | None = None,
        on_end: Callable[[EndReason, StatusEvent], None] | None = None,
    ) -> None:
        self.on_status = on_status
        self.on_end = on_end
        self._lock = threading.Lock()
        self.message = ""
        self.last_error = ""
        self.end_reason = EndReason.RUNNING
        self._end_event: StatusEvent | None = None

    def report(
        self, kind: StatusKind, message: str, severity: Severity = Severity.INFO, **payload: Any
    ) -> StatusEvent:
        """Build the event, remember it, log warnings and errors, and call `on_status`."""
        event = status(kind, message, severity, **payload)
        with self._lock:
            self.message = message
            if severity is not Severity.INFO:
                self.last_error = message
        if severity is not Severity.INFO:
            log.warning("%s", message)
        if self.on_status is not None:
            try:
                self.on_status(event)
            except Exception:
                log.exception("on_status callback failed")
        return event

    def frame_failed(self, exc: BaseException, args: tuple[Any, ...]) -> None:
        """One frame (`args[0]`) failed in a stage of the live loop: logged and reported."""
        frame_id = getattr(args[0], "frame_id", "?") if args else "?"
        log.error("frame %s failed", frame_id, exc_info=exc)
        message = f"Frame {frame_id} failed: {type(exc).__name__}: {exc}"
        self.report(StatusKind.FRAME_ERROR, message, Severity.ERROR)

    def recognizer_failed(self, exc: Exception, name: str, fallback: bool) -> None:
        """The recognizer `name` raised; `fallback`: the fallback recognizer answered."""
        self.report(
            StatusKind.RECOGNIZER_FALLBACK if fallback else StatusKind.RECOGNIZER_ERROR,
            f"Recognizer {name} failed: {exc}" + (" — using the fallback recognizer" * fallback),
            Severity.WARNING if fallback else Severity.ERROR,
            recognizer=name,
            error=type(exc).__name__,
        )

    def set_end(
        self, reason: EndReason, kind: StatusKind, message: str, severity: Severity = Severity.INFO
    ) -> None:
        """The run is ending for `reason`; reported now, passed to `on_end` by `ended()`."""
        with self._lock:
            self.end_reason = reason
        self._end_event = self.report(kind, message, severity, reason=reason.value)

    def ended(self) -> None:
        """The run has ended (a run without another reason was stopped): call `on_end` once."""
        with self._lock:
            if self.end_reason is EndReason.RUNNING:
                self.end_reason = EndReason.STOPPED
            reason = self.end_reason
        event = self._end_event or status(StatusKind.SESSION_ENDED, "", reason=reason.value)
        if self.on_end is not None:
            try:
                self.on_end(reason, event)
            except Exception:
                log.exception("the on_end callback failed")

    def snapshot(self) -> dict[str, Any]:
        """This part of `PipelineStats`, as keyword arguments."""
        with self._lock:
            return {
                "last_error": self.last_error,
                "message": self.message,
                "end_reason": self.end_reason,
            }
