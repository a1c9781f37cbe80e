"""Per-track exponential smoothing of probability vectors."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.contracts import Prediction
from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.pipeline.smoothing import Smoother


def pred(track: int, probs, label_set=RAF_BASIC, frame: int = 0) -> Prediction:
    return Prediction(track, frame, label_set, tuple(probs))


def onehot(i: int, n: int = 7) -> list[float]:
    v = [0.0] * n
    v[i] = 1.0
    return v


def test_first_prediction_passes_through_then_ema_blends():
    # Given a smoother of strength 0.75
    s = Smoother(0.75)
    # When a track sees label 0 then label 1
    first = s.update(pred(1, onehot(0)))
    second = s.update(pred(1, onehot(1)))
    # Then the first is unchanged and the second is 0.75*old + 0.25*new
    assert first.probs == pytest.approx(onehot(0))
    expected = 0.75 * np.array(onehot(0)) + 0.25 * np.array(onehot(1))
    assert second.probs == pytest.approx(expected.tolist())
    assert sum(second.probs) == pytest.approx(1.0)


def test_strength_zero_is_off():
    s = Smoother(0.0)
    s.update(pred(1, onehot(0)))
    out = s.update(pred(1, onehot(3)))
    assert out.probs == pytest.approx(onehot(3)), "strength 0 must pass predictions unchanged"


def test_tracks_are_independent():
    s = Smoother(0.5)
    s.update(pred(1, onehot(0)))
    out = s.update(pred(2, onehot(4)))
    assert out.probs == pytest.approx(onehot(4)), (
        "a new track must not inherit another track's state"
    )


def test_label_set_change_resets_track():
    # Given a track smoothed over the basic set
    s = Smoother(0.9)
    s.update(pred(1, onehot(0)))
    # When the same track gets a compound prediction
    out = s.update(pred(1, onehot(2, 11), label_set=RAF_COMPOUND))
    # Then the state restarts from the new prediction
    assert out.probs == pytest.approx(onehot(2, 11))


def test_retain_forgets_disappeared_tracks():
    s = Smoother(0.9)
    s.update(pred(1, onehot(0)))
    s.update(pred(2, onehot(0)))
    s.retain([2])
    assert s.tracks == (2,)
    out = s.update(pred(1, onehot(5)))
    assert out.probs == pytest.approx(onehot(5)), "track 1 disappeared, so its history is gone"


def test_strength_is_clamped():
    assert Smoother(1.5).strength == Smoother.MAX_STRENGTH
    assert Smoother(-1).strength == 0.0
    with pytest.raises(ValueError):
        Smoother(float("nan"))
