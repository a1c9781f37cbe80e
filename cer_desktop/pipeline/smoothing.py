"""Per-track exponential smoothing of probability vectors, so labels do not flicker."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

import numpy as np

from cer_desktop.contracts import Prediction


class Smoother:
    """Exponential moving average of each track's probabilities.

    `smoothed = strength * previous + (1 - strength) * new`, renormalised to sum to 1.
    `strength` is clamped to 0..0.99: 0 turns smoothing off (predictions pass through
    unchanged); values near 1 follow new evidence slowly. A track's state is reset when its
    label set changes, when `retain()` is told the track disappeared, or on `reset()`.

    Call `update()` once per *new* prediction (not once per painted frame), so the time
    constant is counted in recognizer results, not in frames.
    """

    MAX_STRENGTH = 0.99

    def __init__(self, strength: float = 0.5) -> None:
        self._lock = threading.Lock()
        self._state: dict[int, tuple[str, tuple[str, ...], np.ndarray]] = {}
        self._strength = 0.0
        self.strength = strength

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"smoothing strength must be a number, got {value!r}")
        self._strength = min(max(value, 0.0), self.MAX_STRENGTH)

    def update(self, prediction: Prediction) -> Prediction:
        """Blend `prediction` into its track's state and return the smoothed prediction."""
        new = np.asarray(prediction.probs, dtype=np.float64)
        key = (prediction.label_set.name, prediction.label_set.labels)
        with self._lock:
            previous = self._state.get(prediction.track_id)
            s = self._strength
            if previous is None or (previous[0], previous[1]) != key or s == 0.0:
                blended = new
            else:
                blended = s * previous[2] + (1.0 - s) * new
            total = float(blended.sum())
            if total > 0 and np.isfinite(total):
                blended = blended / total
            else:  # a broken input: start afresh from it rather than spreading NaNs
                blended = new
            self._state[prediction.track_id] = (key[0], key[1], blended)
        if s == 0.0:
            return prediction
        return dataclasses.replace(prediction, probs=tuple(float(p) for p in blended))

    def retain(self, track_ids: Iterable[int]) -> None:
        """Forget every track not in `track_ids` (they disappeared)."""
        keep = set(track_ids)
        with self._lock:
            for tid in [t for t in self._state if t not in keep]:
                del self._state[tid]

    def reset(self) -> None:
        """Forget every track."""
        with self._lock:
            self._state.clear()

    @property
    def tracks(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._state)
