"""The values every stream sends for a frame: the same ones `frames.csv` gets, per face slot.

A slot is a face's place in the fixed layout of the streams (an LSL outlet cannot change its
channel count): a tracked face keeps its slot while it is tracked, a new face takes the lowest
free one, and faces beyond the session's maximum get none (the analyzer never reports more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cer_desktop.contracts import Annotation
from cer_desktop.recording.csvlog import AU_NAMES, au_key

#: The version of the WebSocket JSON messages (docs/streams.md).
SCHEMA_VERSION = 1
NAN = math.nan


@dataclass(frozen=True, slots=True)
class FaceValues:
    """One face of one frame. `probs` follows `FrameValues.labels`, `aus` follows `AU_NAMES`;
    NaN where there is no value (no prediction yet, an AU the recognizer does not measure)."""

    slot: int
    track_id: int
    box: tuple[int, int, int, int]
    label: str  # the top label, "uncertain", or "" before the face's first prediction
    probs: tuple[float, ...]
    aus: tuple[float, ...]
    recognizer: str
    latency_ms: float
    age_ms: float  # how old the label is: this frame's capture time minus its frame's
    fresh: bool


@dataclass(frozen=True, slots=True)
class FrameValues:
    """One frame's values for the streams (built on the pipeline thread, read by senders)."""

    frame_id: int
    t_capture: float  # time.monotonic() at capture
    wall_time: datetime
    t_session: float
    label_set: str
    labels: tuple[str, ...]
    max_faces: int
    faces: tuple[FaceValues, ...]

    def to_message(self, lsl_offset: float | None = None) -> dict[str, Any]:
        """The WebSocket "frame" message (schema `SCHEMA_VERSION`; NaN becomes null)."""
        return {
            "schema": SCHEMA_VERSION,
            "type": "frame",
            "frame_id": self.frame_id,
            "t_capture": round(self.t_capture, 6),
            "lsl_time": None if lsl_offset is None else round(self.t_capture + lsl_offset, 6),
            "wall_time": self.wall_time.isoformat(timespec="milliseconds"),
            "t_session": round(self.t_session, 4),
            "label_set": self.label_set,
            "labels": list(self.labels),
            "faces": [
                {
                    "slot": f.slot,
                    "track_id": f.track_id,
                    "box": list(f.box),
                    "label": f.label,
                    "probs": {lab: _num(p) for lab, p in zip(self.labels, f.probs, strict=True)},
                    "au": {a: _num(v) for a, v in zip(AU_NAMES, f.aus, strict=True) if v == v},
                    "recognizer": f.recognizer,
                    "latency_ms": round(f.latency_ms, 1),
                    "age_ms": round(f.age_ms, 1),
                    "fresh": f.fresh,
                }
                for f in self.faces
            ],
        }


def _num(x: float) -> float | None:
    return None if x != x else round(float(x), 4)


class SlotMap:
    """Stable slots for track ids (one instance per stream fan-out, pipeline thread only)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._slots: dict[int, int] = {}

    def assign(self, track_ids: list[int]) -> dict[int, int]:
        """Slots for this frame's tracks; tracks gone since the last frame free theirs."""
        present = set(track_ids)
        self._slots = {t: s for t, s in self._slots.items() if t in present}
        used = set(self._slots.values())
        for t in track_ids:
            if t in self._slots:
                continue
            free = next((s for s in range(self.size) if s not in used), None)
            if free is None:
                continue  # more faces than slots: the layout has no room for this one
            self._slots[t] = free
            used.add(free)
        return dict(self._slots)


def frame_values(annotation: Annotation, slots: SlotMap) -> FrameValues:
    """The stream values of one annotated frame (probabilities matched by label name when a
    prediction is over another label set, as in frames.csv)."""
    ls = annotation.label_set
    tracks = [fa.face.track_id for fa in annotation.faces]
    slot_of = slots.assign(tracks)
    faces: list[FaceValues] = []
    for fa in annotation.faces:
        slot = slot_of.get(fa.face.track_id)
        if slot is None:
            continue
        pred = fa.prediction
        probs: tuple[float, ...]
        if pred is None:
            probs, label = (NAN,) * len(ls.labels), ""
        elif pred.label_set.labels == ls.labels:
            probs, label = tuple(float(p) for p in pred.probs), pred.top_label
        else:
            found = []
            for lab in ls.labels:
                try:
                    found.append(pred.prob_of(lab))
                except ValueError:
                    found.append(NAN)
            probs, label = tuple(found), pred.top_label
        aus = [NAN] * len(AU_NAMES)
        if pred is not None and pred.au:
            for name, value in pred.au.items():
                key = au_key(name)
                if key in AU_NAMES:
                    aus[AU_NAMES.index(key)] = float(value)
        x, y, w, h = (int(v) for v in fa.face.box)
        faces.append(
            FaceValues(
                slot=slot,
                track_id=int(fa.face.track_id),
                box=(x, y, w, h),
                label=label,
                probs=probs,
                aus=tuple(aus),
                recognizer=pred.recognizer if pred is not None else "",
                latency_ms=float(pred.latency_ms) if pred is not None else NAN,
                age_ms=float(fa.age_ms),
                fresh=bool(fa.fresh and pred is not None),
            )
        )
    faces.sort(key=lambda f: f.slot)
    return FrameValues(
        frame_id=int(annotation.frame.frame_id),
        t_capture=float(annotation.frame.t_capture),
        wall_time=annotation.frame.wall_time,
        t_session=float(annotation.t_session),
        label_set=ls.name,
        labels=tuple(ls.labels),
        max_faces=slots.size,
        faces=tuple(faces),
    )
