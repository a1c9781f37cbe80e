"""The typed events a `LiveSession` emits. Every event carries a `StatusEvent` for people
(`status.message`); code branches on the event's type and `status.kind`, never on text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cer_desktop.contracts import StatusEvent
from cer_desktop.pipeline.stats import EndReason

__all__ = [
    "EndReason",
    "MarkerAdded",
    "RecognizerChanged",
    "RecordingFailed",
    "RecordingStarted",
    "RecordingStopped",
    "SessionEnded",
    "SessionEvent",
    "SessionStarted",
    "StatusReported",
]


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """A live run started on `source` (a spec: "demo", "camera:0", a path)."""

    source: str
    label_set: str
    recognizer: str
    status: StatusEvent


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """A live run ended: the end of a file, a source error, or a stop. `fell_back_to_demo` is
    True when the session then started the demo in its place (a camera that never delivered)."""

    reason: EndReason
    source: str
    frames_captured: int
    status: StatusEvent
    fell_back_to_demo: bool = False


@dataclass(frozen=True, slots=True)
class RecognizerChanged:
    """The recognizer in use changed (`name` as in predictions; `description` for people)."""

    name: str
    description: str
    status: StatusEvent


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    folder: Path
    status: StatusEvent


@dataclass(frozen=True, slots=True)
class RecordingStopped:
    folder: Path
    frames_written: int
    frames_dropped: int
    status: StatusEvent


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    """A recording could not start or stopped by itself (disk full...); the view goes on."""

    folder: Path | None
    error: str
    status: StatusEvent


@dataclass(frozen=True, slots=True)
class StatusReported:
    """Anything else the pipeline reports (no face, recognizer fell back, frame failed...)."""

    status: StatusEvent


@dataclass(frozen=True, slots=True)
class MarkerAdded:
    """A marker: the user's (`source` "user") or an experiment's (`source` "lsl", with its
    `lsl_time` on this machine's LSL clock and `t_capture` on the capture clock).
    `recorded` says whether it went into a recording's events.jsonl."""

    text: str
    source: str
    recorded: bool
    status: StatusEvent
    lsl_time: float | None = None
    t_capture: float | None = None


SessionEvent = (
    SessionStarted
    | SessionEnded
    | RecognizerChanged
    | RecordingStarted
    | RecordingStopped
    | RecordingFailed
    | StatusReported
    | MarkerAdded
)
