"""Lab Streaming Layer outlets: "cer-desktop expressions" (numbers per face slot) and
"cer-desktop markers" (strings).

An LSL outlet cannot change its channel count, so the expressions outlet has a slot for each
of the session's faces (`max_faces`): track id, valid flag, box, label age, the top label's
index, every label's probability, every AU intensity. A change of label set or of the number
of faces closes the outlet and opens a new one (its source id names the layout) with a
marker saying so. Each sample is stamped with the frame's capture time on LSL's clock
(`pylsl.local_clock()`), not the time it was sent; how old the label painted on it is goes in
its own channel (`face<k>_label_age`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from cer_desktop.recording.csvlog import AU_NAMES
from cer_desktop.streams.config import StreamsError, slug
from cer_desktop.streams.fanout import StreamOutput
from cer_desktop.streams.frame_data import NAN, FrameValues

log = logging.getLogger(__name__)

EXPRESSIONS_NAME = "cer-desktop expressions"
EXPRESSIONS_TYPE = "Expressions"
MARKERS_NAME = "cer-desktop markers"
MARKERS_TYPE = "Markers"
#: channels before the probabilities in each slot: (name, unit, type)
SLOT_HEAD: tuple[tuple[str, str, str], ...] = (
    ("track_id", "id", "TrackId"),
    ("valid", "boolean", "Valid"),
    ("x", "pixels", "Box"),
    ("y", "pixels", "Box"),
    ("w", "pixels", "Box"),
    ("h", "pixels", "Box"),
    ("label_index", "index", "Label"),  # index into desc/labels; -1 uncertain or none
    ("label_age", "ms", "LabelAge"),
)


def import_pylsl() -> Any:
    """pylsl, or `StreamsError` saying how to install it."""
    try:
        import pylsl
    except Exception as exc:  # ImportError, or liblsl that does not load on this glibc
        raise StreamsError(
            f"LSL is not available ({exc}): install the streams extra "
            "(pip install 'cer-desktop[streams]'; pylsl's liblsl needs glibc 2.35 or newer)"
        ) from exc
    return pylsl


def clock_offset(pylsl: Any) -> float:
    """LSL's clock minus `time.monotonic()` (capture times are monotonic). On Linux both read
    CLOCK_MONOTONIC and this is ~0; elsewhere it is whatever separates the two clocks. The
    smallest of a few paired readings is the one least disturbed by a preemption."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        a = time.monotonic()
        lsl = pylsl.local_clock()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, lsl - (a + b) / 2)
    assert best is not None
    return best[1]


def channel_layout(labels: tuple[str, ...], max_faces: int) -> list[tuple[str, str, str]]:
    """(label, unit, type) of every channel, slot by slot."""
    chans: list[tuple[str, str, str]] = []
    for k in range(max_faces):
        chans += [(f"face{k}_{n}", unit, kind) for n, unit, kind in SLOT_HEAD]
        chans += [(f"face{k}_p_{slug(lab)}", "probability", "Probability") for lab in labels]
        chans += [(f"face{k}_{au}_r", "intensity 0-5", "ActionUnit") for au in AU_NAMES]
    return chans


class LslMarkers:
    """The "cer-desktop markers" outlet: label changes per face, recording start/stop, layout
    changes, user markers. Thread-safe (liblsl's push is)."""

    def __init__(self, pylsl: Any, host: str | None = None) -> None:
        self._pylsl = pylsl
        host = host or socket.gethostname()
        info = pylsl.StreamInfo(
            MARKERS_NAME, MARKERS_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
            f"cer-desktop:{host}:markers",
        )  # fmt: skip
        info.desc().append_child_value("application", "cer-desktop")
        self._outlet: Any = pylsl.StreamOutlet(info)
        self._lock = threading.Lock()
        self.sent = 0

    def push(self, text: str, lsl_time: float | None = None) -> None:
        with self._lock:
            if self._outlet is None:
                return
            self._outlet.push_sample([text], lsl_time or self._pylsl.local_clock())
            self.sent += 1

    @property
    def consumers(self) -> int:
        with self._lock:
            return int(bool(self._outlet is not None and self._outlet.have_consumers()))

    def close(self) -> None:
        with self._lock:
            self._outlet = None  # pylsl destroys the outlet when the last reference goes


class LslExpressions(StreamOutput):
    """The "cer-desktop expressions" outlet (float32, nominal rate = the source's fps)."""

    name = "lsl"

    def __init__(
        self,
        pylsl: Any,
        offset: float,
        fps: float,
        markers: LslMarkers | None,
        recognizer: str = "",
        queue_size: int = 64,
    ) -> None:
        super().__init__(queue_size)
        self._pylsl = pylsl
        self.offset = offset
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._markers = markers
        self.recognizer = recognizer
        self._outlet: Any = None
        self._layout: tuple[str, tuple[str, ...], int] | None = None
        self._labels: dict[int, str] = {}  # track id -> last top label sent as a marker
        self.outlets_opened = 0
        self.source_id = ""

    @property
    def consumers(self) -> int:
        o = self._outlet
        return int(bool(o is not None and o.have_consumers()))

    def describe(self) -> str:
        return f"LSL “{EXPRESSIONS_NAME}”"

    def _open_outlet(self, values: FrameValues) -> None:
        pylsl = self._pylsl
        chans = channel_layout(values.labels, values.max_faces)
        self.source_id = (
            f"cer-desktop:{socket.gethostname()}:expressions:{values.label_set}:"
            f"{values.max_faces}x{len(chans) // values.max_faces}"
        )
        info = pylsl.StreamInfo(
            EXPRESSIONS_NAME, EXPRESSIONS_TYPE, len(chans), self.fps, pylsl.cf_float32,
            self.source_id,
        )  # fmt: skip
        desc = info.desc()
        desc.append_child_value("application", "cer-desktop")
        desc.append_child_value("label_set", values.label_set)
        desc.append_child_value("recognizer", self.recognizer or _recognizer_of(values))
        desc.append_child_value("max_faces", str(values.max_faces))
        desc.append_child_value("channels_per_face", str(len(chans) // values.max_faces))
        desc.append_child_value("timestamps", "frame capture time on the LSL clock")
        labels = desc.append_child("labels")
        for lab in values.labels:
            labels.append_child_value("label", lab)
        channels = desc.append_child("channels")
        for label, unit, kind in chans:
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", kind)
        self._outlet = pylsl.StreamOutlet(info, chunk_size=1, max_buffered=60)
        self.outlets_opened += 1
        self._layout = (values.label_set, values.labels, values.max_faces)
        self._labels.clear()

    def _send(self, values: FrameValues) -> None:
        layout = (values.label_set, values.labels, values.max_faces)
        if self._layout != layout:
            old = self._layout
            self._outlet = None  # closes the old outlet: its channels no longer fit
            self._open_outlet(values)
            if self._markers is not None:
                what = "opened" if old is None else "reopened"
                self._markers.push(
                    f"expressions outlet {what}: label_set={values.label_set} "
                    f"faces={values.max_faces} source_id={self.source_id}",
                    values.t_capture + self.offset,
                )
        self._outlet.push_sample(self._sample(values), values.t_capture + self.offset)
        self._label_markers(values)

    def _sample(self, values: FrameValues) -> list[float]:
        per_face = len(SLOT_HEAD) + len(values.labels) + len(AU_NAMES)
        sample = [NAN] * (per_face * values.max_faces)
        for k in range(values.max_faces):
            sample[k * per_face + 1] = 0.0  # valid = 0 for empty slots
        for f in values.faces:
            base = f.slot * per_face
            index = values.labels.index(f.label) if f.label in values.labels else -1
            head = [float(f.track_id), 1.0, *map(float, f.box), float(index), f.age_ms]
            sample[base : base + per_face] = [*head, *f.probs, *f.aus]
        return sample

    def _label_markers(self, values: FrameValues) -> None:
        if self._markers is None:
            return
        seen = set()
        for f in values.faces:
            seen.add(f.track_id)
            if f.label and self._labels.get(f.track_id) != f.label:
                self._labels[f.track_id] = f.label
                self._markers.push(
                    f"face {f.slot} (track {f.track_id}): {f.label}", values.t_capture + self.offset
                )
        for gone in set(self._labels) - seen:
            del self._labels[gone]

    def _shutdown(self) -> None:
        self._outlet = None


def _recognizer_of(values: FrameValues) -> str:
    return next((f.recognizer for f in values.faces if f.recognizer), "")
