"""The frozen values that cross threads behave as the rest of the app relies on."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.contracts import Frame, Prediction, frozen_array
from cer_desktop.labels import RAF_BASIC, UNCERTAIN


def test_values_are_frozen_and_images_read_only() -> None:
    frame = Frame(3, 1.0, datetime.now(UTC), frozen_array(np.zeros((4, 6, 3), np.uint8)))
    assert frame.size == (6, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.frame_id = 4  # type: ignore[misc]
    with pytest.raises(ValueError):
        frame.image[0, 0, 0] = 1


def test_prediction_top_label_and_threshold() -> None:
    probs = (0.05, 0.05, 0.05, 0.6, 0.1, 0.1, 0.05)
    p = Prediction(1, 7, RAF_BASIC, probs)
    assert p.top_label == "Happiness" and p.top_prob == pytest.approx(0.6)
    assert p.ranked(1) == [("Happiness", 0.6)]
    unsure = dataclasses.replace(p, threshold=0.7)
    assert unsure.uncertain and unsure.top_label == UNCERTAIN
    assert unsure.prob_of("happiness") == pytest.approx(0.6)


def test_prediction_needs_one_probability_per_label() -> None:
    with pytest.raises(ValueError, match="7 labels"):
        Prediction(1, 1, RAF_BASIC, (0.5, 0.5))
