"""Expression warps are measured back by MediaPipe: the intended region motion is really there."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.vision import expression_actions as ea
from cer_desktop.vision.expression_warp import (
    EXPRESSIONS,
    ExpressionWarper,
    UnknownExpression,
    astronaut_landmarks,
)

INNER_BROWS = (55, 65, 107, 66, 285, 295, 336, 296)


@pytest.fixture(scope="module")
def warper(astronaut) -> ExpressionWarper:
    return ExpressionWarper(astronaut, astronaut_landmarks())


def detect(mesh, image: np.ndarray) -> np.ndarray:
    result = mesh.process(image)
    assert result.multi_face_landmarks, "MediaPipe lost the face on the warped image"
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])


def measured_fraction(measured: np.ndarray, intended: np.ndarray, idx) -> float:
    """How much of the intended displacement of landmarks `idx` was detected (1 = all)."""
    idx = np.asarray(idx)
    want = intended[idx]
    return float((measured[idx] * want).sum() / (want**2).sum())


@pytest.fixture(scope="module")
def baseline(mesh, astronaut) -> np.ndarray:
    return detect(mesh, astronaut)


def motion(mesh, warper, baseline, expression):
    """(measured displacement, intended displacement) of all 478 landmarks, in pixels."""
    warped = warper.warp(expression)
    return detect(mesh, warped) - baseline, warper.displacement(expression)


def test_astronaut_landmarks_are_cached_pixels(astronaut):
    # Given the astronaut photo, when its landmarks are asked for twice
    first, second = astronaut_landmarks(), astronaut_landmarks()
    # Then it is one (478, 3) array, computed once, with the face inside the 512x512 photo
    assert first is second, "landmarks should be computed once per process"
    assert first.shape == (478, 3)
    assert 150 < first[:, 0].mean() < 300 and 60 < first[:, 1].mean() < 200, first.mean(axis=0)


def test_happy_lifts_and_widens_the_mouth_corners(mesh, warper, baseline):
    # Given the astronaut, when warped to "happy"
    measured, intended = motion(mesh, warper, baseline, "happy")
    # Then MediaPipe finds the mouth corners higher and further apart, most of the intended way
    left, right = 61, 291
    assert measured[[left, right], 1].mean() < -0.5 * abs(intended[[left, right], 1].mean())
    width_gain = measured[right, 0] - measured[left, 0]
    assert width_gain > 0.5 * (intended[right, 0] - intended[left, 0]), width_gain
    frac = measured_fraction(measured, intended, ea.MOUTH_CORNERS)
    assert frac > 0.6, f"only {frac:.0%} of the corner motion measured back"


def test_surprise_raises_brows_and_drops_the_jaw(mesh, warper, baseline):
    # Given the astronaut, when warped to "surprise"
    measured, intended = motion(mesh, warper, baseline, "surprise")
    # Then the brows are measured higher and the lower lip and chin lower
    brows = measured_fraction(measured, intended, ea.BROWS)
    jaw = measured_fraction(measured, intended, ea.LOWER_LIP_OUTER + (152,))
    assert brows > 0.6, f"only {brows:.0%} of the brow raise measured back"
    assert jaw > 0.4, f"only {jaw:.0%} of the jaw drop measured back"
    assert measured[152, 1] > 0.1 * warper.iod, "chin not lower"


def test_anger_lowers_and_draws_the_inner_brows_together(mesh, warper, baseline):
    # Given the astronaut, when warped to "anger"
    measured, intended = motion(mesh, warper, baseline, "anger")
    # Then the inner brows are lower and closer to each other
    right, left = (55, 65, 107, 66), (285, 295, 336, 296)
    assert measured[list(INNER_BROWS), 1].mean() > 0.04 * warper.iod, "inner brows not lower"
    gap_change = measured[list(left), 0].mean() - measured[list(right), 0].mean()
    gap_wanted = intended[list(left), 0].mean() - intended[list(right), 0].mean()
    # MediaPipe's brows follow the eyes: only 15-30% of a sideways brow shift registers
    # (measured on this photo), so "closer" is checked at a tenth of the intended change.
    assert gap_change < 0.1 * gap_wanted < 0, f"inner brows not closer ({gap_change:.1f} px)"
    frac = measured_fraction(measured, intended, INNER_BROWS)
    assert frac > 0.4, f"only {frac:.0%} of the inner-brow motion measured back"


@pytest.mark.parametrize("name", ["sad", "fear", "disgust", "happily_surprised"])
def test_other_expressions_keep_a_detectable_face_that_moved(mesh, warper, baseline, name):
    # Given another named expression, when the astronaut is warped to it
    measured, intended = motion(mesh, warper, baseline, name)
    # Then the face is still found and its moved landmarks moved the intended way
    moved = np.flatnonzero(np.linalg.norm(intended, axis=1) > 0.03 * warper.iod)
    frac = measured_fraction(measured, intended, moved)
    assert frac > 0.4, f"{name}: only {frac:.0%} of the intended motion measured back"


def test_neutral_and_zero_intensity_leave_the_image_unchanged(warper, astronaut):
    # Given the warper, when asked for neutral or for anything at intensity 0
    # Then the image comes back unchanged (a copy, not the original)
    for out in (warper.warp("neutral"), warper.warp("happy", intensity=0.0)):
        assert out is not astronaut and np.array_equal(out, astronaut)


def test_compound_is_the_sum_of_its_parts_and_intensity_scales(warper):
    # Given "happily_surprised" defined as happy + surprise
    both = warper.displacement("happily_surprised")
    parts = warper.displacement("happy") + warper.displacement("surprise")
    # Then its displacement is the sum, a dict mix gives the same, and intensity scales it
    np.testing.assert_allclose(both, parts, atol=1e-9)
    np.testing.assert_allclose(warper.displacement({"happy": 1, "surprise": 1}), parts, atol=1e-9)
    np.testing.assert_allclose(warper.displacement("happy", 0.5), warper.displacement("happy") / 2)


def test_every_named_expression_warps_only_inside_the_face_box(warper, astronaut):
    # Given every named expression, when warped
    x, y, w, h = warper.box
    for name in EXPRESSIONS:
        out = warper.warp(name)
        # Then the image outside the face box is untouched and the inside changed (not neutral)
        outside = out.copy()
        outside[y : y + h, x : x + w] = astronaut[y : y + h, x : x + w]
        assert np.array_equal(outside, astronaut), f"{name} changed pixels outside the face box"
        changed = not np.array_equal(out, astronaut)
        assert changed == (name != "neutral"), f"{name}: changed={changed}"


def test_bad_inputs_are_named_errors(warper, astronaut):
    # Given an unknown expression, a grey image, or too few landmarks
    with pytest.raises(UnknownExpression, match="unknown expression 'smug'"):
        warper.warp("smug")
    with pytest.raises(ValueError, match="RGB uint8"):
        ExpressionWarper(astronaut[..., 0], astronaut_landmarks())
    with pytest.raises(ValueError, match="478"):
        ExpressionWarper(astronaut, astronaut_landmarks()[:68])


def test_warps_follow_the_face_frame_on_a_rotated_face(mesh, astronaut):
    # Given the astronaut rotated by 20 degrees, with landmarks detected on the rotated photo
    import cv2

    m = cv2.getRotationMatrix2D((256, 256), 20, 1.0)
    rotated = cv2.warpAffine(astronaut, m, (512, 512), borderMode=cv2.BORDER_REFLECT)
    before = detect(mesh, rotated)
    warper = ExpressionWarper(rotated, before)
    # When warped to "happy"
    after = detect(mesh, warper.warp("happy"))
    # Then the mouth corners rose along the face's own up direction (not the image's)
    eyes = before[473] - before[468]
    down = np.array([-eyes[1], eyes[0]]) / np.hypot(*eyes)
    rise = -float(((after - before)[[61, 291]] @ down).mean())
    wanted = -float((warper.displacement("happy")[[61, 291]] @ down).mean())
    assert wanted > 0 and rise > 0.5 * wanted, f"corners rose {rise:.1f} px of {wanted:.1f}"


def test_a_face_cut_by_the_image_border_still_warps(astronaut):
    # Given the photo cut just below the mouth (the chin's landmarks fall outside the image)
    lm = astronaut_landmarks()
    cut = np.ascontiguousarray(astronaut[: int(lm[17, 1]) + 4])
    # When warped with a dropped jaw, then the image keeps its size and the top is unchanged
    out = ExpressionWarper(cut, lm).warp("surprise")
    assert out.shape == cut.shape
    assert np.array_equal(out[:30], cut[:30])


def test_landmarks_that_are_not_a_face_are_rejected(astronaut):
    with pytest.raises(ValueError, match="not describe a face"):
        ExpressionWarper(astronaut, np.zeros((478, 3)))
