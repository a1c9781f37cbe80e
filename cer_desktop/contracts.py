"""The frozen values that cross threads and layers, and the Recognizer protocol.

Every part of the app (capture, vision, recognition, pipeline, recording, GUI, training)
builds on these. Keep them stable; add fields only with defaults.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

from cer_desktop.labels import UNCERTAIN, LabelSet


def frozen_array(a: np.ndarray) -> np.ndarray:
    """Mark an array read-only so a value shared between threads cannot be mutated."""
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image. `image` is RGB uint8 (H, W, 3), read-only."""

    frame_id: int  # strictly increasing within a source
    t_capture: float  # time.monotonic() at capture
    wall_time: datetime  # UTC, timezone-aware
    image: np.ndarray
    source: str = ""  # a short description of the source, for manifests
    path: str = ""  # the image file this frame was read from (image inputs), else ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class QualityFlags:
    """Why a face may be unreliable. All false means usable."""

    too_small: bool = False
    profile: bool = False
    blurred: bool = False

    @property
    def ok(self) -> bool:
        return not (self.too_small or self.profile or self.blurred)

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in ("too_small", "profile", "blurred") if getattr(self, n))


@dataclass(frozen=True, slots=True)
class Face:
    """One face found in one frame."""

    track_id: int  # stable across frames while the face is tracked
    frame_id: int
    box: tuple[int, int, int, int]  # x, y, w, h in image pixels
    landmarks: np.ndarray  # (478, 3) float32: x, y in image pixels, z in MediaPipe's scale
    aligned: np.ndarray  # (S, S, 3) RGB uint8: the crop the models see
    quality: QualityFlags = field(default_factory=QualityFlags)
    blendshapes: Mapping[str, float] | None = None  # MediaPipe's 52, when a .task file is used


@dataclass(frozen=True, slots=True)
class Prediction:
    """A recognizer's answer for one face of one frame."""

    track_id: int
    frame_id: int  # the frame the prediction was computed on
    label_set: LabelSet
    probs: tuple[float, ...]  # one per label of `label_set`, sums to 1
    au: Mapping[str, float] | None = None  # OpenFace-style names ("AU12") -> intensity 0..5
    recognizer: str = ""
    latency_ms: float = 0.0
    threshold: float = 0.0  # below this top probability the face is "uncertain"

    def __post_init__(self) -> None:
        if len(self.probs) != len(self.label_set.labels):
            raise ValueError(
                f"{len(self.probs)} probabilities for {len(self.label_set.labels)} labels"
            )

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def top_prob(self) -> float:
        return float(self.probs[self.top_index])

    @property
    def uncertain(self) -> bool:
        return self.top_prob < self.threshold

    @property
    def top_label(self) -> str:
        """The label to show: the most probable one, or "uncertain" under the threshold."""
        return UNCERTAIN if self.uncertain else self.label_set.labels[self.top_index]

    def ranked(self, k: int | None = None) -> list[tuple[str, float]]:
        order = np.argsort(self.probs)[::-1]
        pairs = [(self.label_set.labels[i], float(self.probs[i])) for i in order]
        return pairs if k is None else pairs[:k]

    def prob_of(self, label: str) -> float:
        return float(self.probs[self.label_set.index(label)])


@dataclass(frozen=True, slots=True)
class FaceAnnotation:
    """A face, the prediction painted on it, and whether that prediction is from this frame."""

    face: Face
    prediction: Prediction | None
    fresh: bool
    # How old the shown prediction is: this frame's capture time minus that of the frame it was
    # computed on (0 when fresh; on a slow machine an LVLM's label lags the video).
    age_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Annotation:
    """Everything painted on one frame."""

    frame: Frame
    faces: tuple[FaceAnnotation, ...]
    label_set: LabelSet
    t_session: float = 0.0  # seconds since the session (pipeline run) started, monotonic
    message: str = ""  # a status message for this frame (e.g. "no face"), empty when fine


class Severity(StrEnum):
    """How much a status event matters to the user."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class StatusKind(StrEnum):
    """What happened. Consumers branch on this, never on the message text."""

    INFO = "info"  # plain information for the status bar
    SOURCE_ENDED = "source_ended"  # a file or folder source reached its end
    SOURCE_ERROR = "source_error"  # the source could not be opened or read; the run ends
    SOURCE_LOST = "source_lost"  # a live source stopped delivering (camera unplugged)
    SOURCE_RESTORED = "source_restored"  # a lost live source delivers again
    RECOGNIZER_ERROR = "recognizer_error"  # a recognizer call failed
    RECOGNIZER_FALLBACK = "recognizer_fallback"  # another recognizer stands in
    RECOGNIZER_CHANGED = "recognizer_changed"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    RECORDING_FAILED = "recording_failed"  # disk full, folder unwritable, writer error
    FRAMES_DROPPED = "frames_dropped"  # a sink's bounded queue was full (target: never)
    REMOTE_UNREACHABLE = "remote_unreachable"  # a remote recognizer's server does not answer
    REMOTE_RECONNECTED = "remote_reconnected"
    RECOVERY = "recovery"  # an unfinished session was found and recovered (or not)
    SETTINGS = "settings"  # a settings file was broken or unwritable; defaults used
    SESSION_STARTED = "session_started"  # a live session runs (payload: source, recognizer)
    SESSION_ENDED = "session_ended"  # a live session ended (payload: reason)
    FACES = "faces"  # the per-frame face condition changed (no face, too many); "" = fine
    ANALYSIS_ERROR = "analysis_error"  # face analysis failed on a frame; the run goes on
    FRAME_ERROR = "frame_error"  # processing one frame failed; the run goes on
    SINK_FAILED = "sink_failed"  # a sink raised and was removed; the view keeps running
    MARKER = "marker"  # a marker: the user's (Ctrl+M) or an experiment's (LSL)
    STREAMS = "streams"  # live streams started, stopped, failed; a marker stream found or lost


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A typed status update (kind, severity, message), as roboflow's `StatusUpdate`.

    `message` is for people; code decides on `kind` and `severity`. `payload` carries the
    machine-readable details (paths, counts, the exception's type name).
    """

    kind: StatusKind
    message: str
    severity: Severity = Severity.INFO
    payload: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    t: float = field(default_factory=time.monotonic)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return self.message


def status(
    kind: StatusKind,
    message: str,
    severity: Severity = Severity.INFO,
    **payload: object,
) -> StatusEvent:
    """Build a `StatusEvent` with a read-only payload."""
    return StatusEvent(kind, message, severity, MappingProxyType(dict(payload)))


class RecognizerError(RuntimeError):
    """A failure the UI should show (model missing, adapter misfit, out of memory...)."""


@runtime_checkable
class Recognizer(Protocol):
    """Turns the faces of one frame into predictions over a label set.

    Implementations never touch Qt, are called from one worker thread at a time, and
    raise `RecognizerError` (or a subclass) for failures the user should see.
    """

    name: str

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        """One prediction per face, in the same order, all of one frame (batched)."""
        ...

    def close(self) -> None:
        """Release models and threads. Safe to call twice."""
        ...
