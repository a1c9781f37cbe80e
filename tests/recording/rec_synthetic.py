"""Synthetic annotated frames for the recording tests (no MediaPipe, no model)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

from cer_desktop.contracts import Annotation, Face, FaceAnnotation, Frame, Prediction
from cer_desktop.labels import RAF_BASIC, LabelSet


def make_annotation(
    i: int,
    *,
    n_faces: int = 2,
    label_set: LabelSet = RAF_BASIC,
    size: tuple[int, int] = (160, 120),
    t0: float = 1000.0,
    dt: float = 1 / 30,
) -> tuple[Annotation, np.ndarray]:
    """Frame `i` of a synthetic session: a moving square, `n_faces` faces with predictions."""
    w, h = size
    image = np.full((h, w, 3), 40, np.uint8)
    x = (i * 3) % (w - 20)
    image[20:40, x : x + 20] = (200, 100, 50)
    image.flags.writeable = False
    t = t0 + i * dt
    frame = Frame(
        i, t, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i * dt), image, "synthetic"
    )
    faces = []
    n = len(label_set.labels)
    for k in range(n_faces):
        probs = np.full(n, 0.5 / (n - 1))
        probs[(i // 10 + k) % n] = 0.5
        face = Face(
            track_id=k + 1,
            frame_id=i,
            box=(10 + 40 * k, 10, 30, 30),
            landmarks=np.zeros((478, 3), np.float32),
            aligned=np.zeros((8, 8, 3), np.uint8),
        )
        pred = Prediction(
            track_id=k + 1,
            frame_id=i - (i % 3),
            label_set=label_set,
            probs=tuple(float(p) for p in probs),
            au={"AU12": 1.5, "AU1": 0.25, "AU99": 3.0},
            recognizer="fake",
            latency_ms=12.5,
        )
        faces.append(FaceAnnotation(face, pred, fresh=(i % 3 == 0)))
    painted = image.copy()
    painted[:4] = 255  # something the raw frame does not have
    return Annotation(frame, tuple(faces), label_set, t_session=t - t0), painted


def record(recorder, n: int, *, start: int = 0, pace_s: float = 0.0, **kw) -> int:
    """Submit frames start..start+n-1; returns how many were accepted."""
    ok = 0
    for i in range(start, start + n):
        ann, painted = make_annotation(i, **kw)
        ok += bool(recorder.submit(ann, painted))
        if pace_s:
            time.sleep(pace_s)
    return ok
