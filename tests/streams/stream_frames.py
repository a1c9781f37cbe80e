"""Annotated frames for the stream tests, built without MediaPipe."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from cer_desktop.contracts import Annotation, FaceAnnotation, Frame, Prediction
from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.testing.fakes import make_face

COMPOUND = get_label_set("raf_compound")


def predicted(
    frame_id: int,
    tracks: tuple[int, ...] = (3, 8),
    label_set: LabelSet = COMPOUND,
    t_capture: float | None = None,
    top: int = 0,
) -> Annotation:
    """An annotated frame: each track's face with a prediction whose probabilities differ per
    track and frame (so a stream that mixes faces or frames up is caught) and two AUs."""
    faces = []
    n = len(label_set.labels)
    for k, track in enumerate(tracks):
        raw = np.arange(1, n + 1, dtype=float) + frame_id * 0.01 + k
        raw[(top + k) % n] += 20.0
        probs = tuple(float(p) for p in raw / raw.sum())
        pred = Prediction(
            track, frame_id, label_set, probs, au={"AU12": 1.5 + k, "AU4": 0.25},
            recognizer="fixed", latency_ms=12.0,
        )  # fmt: skip
        face = make_face(frame_id, track, box=(40 + 220 * k, 60, 200, 200), crop_size=16)
        faces.append(FaceAnnotation(face, pred, fresh=True, age_ms=0.0))
    frame = Frame(
        frame_id,
        time.monotonic() if t_capture is None else t_capture,
        datetime.now(UTC),
        np.zeros((8, 8, 3), np.uint8),
    )
    return Annotation(frame, tuple(faces), label_set, t_session=frame_id / 30.0)


PAINTED = np.zeros((8, 8, 3), np.uint8)
