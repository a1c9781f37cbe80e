"""Action-unit evidence from landmarks: synthetic displacements of MediaPipe's canonical face."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.recognition import au
from cer_desktop.recognition.au import (
    AU_NAMES,
    NEUTRAL_PRIOR,
    LandmarkShapeError,
    canonical_landmarks,
    face_features,
    measure_aus,
)

BROWS = (107, 66, 55, 65, 70, 63, 46, 53, 105, 52, 336, 296, 285, 295, 300, 293, 276, 283, 334, 282)
RIGHT_BROW = (107, 66, 55, 65, 70, 63, 46, 53, 105, 52)
LOWER_FACE = (14, 17, 152)  # lower inner lip, lower lip bottom, chin


@pytest.fixture()
def face() -> np.ndarray:
    """A neutral face: the measured points of MediaPipe's canonical model, 60 px eye distance."""
    return canonical_landmarks()


def iod(landmarks: np.ndarray) -> float:
    r = (landmarks[33, :2] + landmarks[133, :2]) / 2
    left = (landmarks[263, :2] + landmarks[362, :2]) / 2
    return float(np.hypot(*(left - r)))


def moved(landmarks: np.ndarray, moves: dict[int, tuple[float, float]]) -> np.ndarray:
    """A copy with points moved by (dx, dy) in inter-ocular units (y down)."""
    out = landmarks.copy()
    d = iod(landmarks)
    for i, (dx, dy) in moves.items():
        out[i, 0] += dx * d
        out[i, 1] += dy * d
    return out


def similarity(
    landmarks: np.ndarray, scale: float, degrees: float, shift: tuple[float, float]
) -> np.ndarray:
    """The whole landmark set scaled (depth too), rotated in the image plane and shifted."""
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = landmarks.copy()
    centre = landmarks[:, :2].mean(axis=0)
    out[:, :2] = (landmarks[:, :2] - centre) @ rot.T * scale + centre + np.asarray(shift)
    out[:, 2:] = landmarks[:, 2:] * scale
    return out


def head_turned(landmarks: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """The landmarks of the same face with the head turned (degrees), seen orthographically."""
    y, p = np.deg2rad(yaw), np.deg2rad(pitch)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    centre = landmarks.mean(axis=0)
    return (landmarks - centre) @ (rx @ ry).T + centre


def others(aus: dict[str, float], *names: str) -> dict[str, float]:
    return {k: v for k, v in aus.items() if k not in names and v > 0.0}


def test_the_same_face_as_its_baseline_has_no_action(face: np.ndarray) -> None:
    # Given a face read against itself, when measured, then every AU is exactly zero.
    aus = measure_aus(face, face)
    assert list(aus) == list(AU_NAMES)
    assert all(v == 0.0 for v in aus.values()), aus


def test_mouth_corners_up_raise_au12_only(face: np.ndarray) -> None:
    # Given the mouth corners moved up 0.08 IOD, when measured against the face at rest,
    aus = measure_aus(moved(face, {61: (0, -0.08), 291: (0, -0.08)}), face)
    # then AU12 (lip corner puller) is clearly present and nothing else is.
    assert aus["AU12"] > 2.0, aus
    assert others(aus, "AU12") == {}, "corners up alone should not read as other AUs"


def test_mouth_corners_up_and_out_read_stronger_than_up_alone(face: np.ndarray) -> None:
    up = measure_aus(moved(face, {61: (0, -0.05), 291: (0, -0.05)}), face)
    up_out = measure_aus(moved(face, {61: (-0.04, -0.05), 291: (0.04, -0.05)}), face)
    assert up_out["AU12"] > up["AU12"] > 0.0, (up, up_out)


def test_mouth_corners_down_raise_au15_not_au12(face: np.ndarray) -> None:
    aus = measure_aus(moved(face, {61: (0, 0.06), 291: (0, 0.06)}), face)
    assert aus["AU15"] > 2.0, aus
    assert aus["AU12"] == 0.0, aus


def test_mouth_corners_pulled_sideways_is_lip_stretch(face: np.ndarray) -> None:
    aus = measure_aus(moved(face, {61: (-0.06, 0), 291: (0.06, 0)}), face)
    assert aus["AU20"] > 1.0, aus
    assert aus["AU20"] > aus["AU12"], f"a horizontal pull is AU20 more than AU12: {aus}"


def test_brows_up_raise_au01_and_au02(face: np.ndarray) -> None:
    # Given both brows moved up 0.12 IOD,
    aus = measure_aus(moved(face, {i: (0, -0.12) for i in BROWS}), face)
    # then the inner and outer brow raisers fire and the brow lowerer does not.
    assert aus["AU01"] > 2.5 and aus["AU02"] > 2.5, aus
    assert aus["AU04"] == 0.0, aus


def test_only_the_inner_brows_up_is_au01_more_than_au02(face: np.ndarray) -> None:
    inner = (107, 66, 55, 65, 336, 296, 285, 295)
    aus = measure_aus(moved(face, {i: (0, -0.10) for i in inner}), face)
    assert aus["AU01"] > 2.0, aus
    assert aus["AU02"] == 0.0, aus


def test_brows_down_and_together_raise_au04(face: np.ndarray) -> None:
    moves = {i: (0.03 if i in RIGHT_BROW else -0.03, 0.08) for i in BROWS}
    aus = measure_aus(moved(face, moves), face)
    assert aus["AU04"] > 2.0, aus
    assert aus["AU01"] == 0.0 and aus["AU02"] == 0.0, aus


def test_dropped_jaw_parts_the_lips_without_chin_raise_or_smile(face: np.ndarray) -> None:
    # Given the lower lip and the chin moved down 0.25 IOD and the corners a quarter of that,
    moves = {i: (0, 0.25) for i in LOWER_FACE} | {61: (0, 0.06), 291: (0, 0.06)}
    aus = measure_aus(moved(face, moves), face)
    # then lips part and jaw drop fire, and neither chin raise nor lip corner AUs.
    assert aus["AU25"] > 3.0 and aus["AU26"] > 3.0, aus
    assert aus["AU17"] == 0.0 and aus["AU12"] == 0.0 and aus["AU15"] == 0.0, aus


def test_upper_lid_up_is_au05_and_eyes_narrowed_is_au07(face: np.ndarray) -> None:
    wide = measure_aus(moved(face, {159: (0, -0.04), 386: (0, -0.04)}), face)
    narrow = measure_aus(moved(face, {159: (0, 0.03), 386: (0, 0.03)}), face)
    assert wide["AU05"] > 2.0 and wide["AU07"] == 0.0, wide
    assert narrow["AU07"] > 1.0 and narrow["AU05"] == 0.0, narrow


def test_nose_wings_and_upper_lip_up_are_au09_and_au10(face: np.ndarray) -> None:
    nose = measure_aus(moved(face, {i: (0, -0.05) for i in (129, 64, 48, 358, 294, 278)}), face)
    lip = measure_aus(moved(face, {0: (0, -0.07)}), face)
    assert nose["AU09"] > 2.0, nose
    assert lip["AU10"] > 2.0 and lip["AU09"] == 0.0, lip


def test_lower_lip_and_chin_pushed_up_is_au17(face: np.ndarray) -> None:
    aus = measure_aus(moved(face, {17: (0, -0.03), 152: (0, -0.09)}), face)
    assert aus["AU17"] > 1.0, aus


def test_lips_pressed_thin_is_au24(face: np.ndarray) -> None:
    aus = measure_aus(moved(face, {0: (0, 0.03), 17: (0, -0.03)}), face)
    assert aus["AU24"] > 1.5, aus


@pytest.mark.parametrize(
    ("scale", "degrees", "shift"),
    [(2.5, 0.0, (0, 0)), (0.6, 25.0, (40, -30)), (1.3, -40.0, (-100, 7))],
)
def test_evidence_does_not_depend_on_face_size_position_or_roll(
    face, scale, degrees, shift
) -> None:
    # Given a smile with raised brows,
    expr = moved(face, {61: (-0.03, -0.06), 291: (0.03, -0.06)} | {i: (0, -0.1) for i in BROWS})
    reference = measure_aus(expr, face)
    # when the face (not its baseline) is scaled, rolled and moved in the image,
    aus = measure_aus(similarity(expr, scale, degrees, shift), face)
    # then the evidence is the same.
    assert reference["AU12"] > 1.0 and reference["AU01"] > 1.0, reference
    for name in AU_NAMES:
        assert aus[name] == pytest.approx(reference[name], abs=1e-6), name


@pytest.mark.parametrize(("yaw", "pitch"), [(25.0, 0.0), (0.0, 15.0), (0.0, -15.0), (30.0, -20.0)])
def test_turning_or_nodding_the_head_is_not_read_as_action(face, yaw, pitch) -> None:
    # Given a smile with raised brows, and the same face with the head turned or nodded,
    expr = moved(face, {61: (-0.03, -0.06), 291: (0.03, -0.06)} | {i: (0, -0.1) for i in BROWS})
    reference = measure_aus(expr, face)
    turned = measure_aus(head_turned(expr, yaw, pitch), face)
    # then the depth MediaPipe gives lets the evidence stay what it was (a nod would
    # otherwise shorten the brow-eye and mouth-eye distances and read as AU4 / AU15).
    for name in AU_NAMES:
        assert turned[name] == pytest.approx(reference[name], abs=1e-6), name
    # Without depth the same nod does change the reading (the check above is not vacuous).
    if pitch:
        flat = measure_aus(head_turned(expr, yaw, pitch)[:, :2], face[:, :2])
        assert flat != pytest.approx(reference, abs=0.1), flat


def test_a_baseline_feature_vector_and_baseline_landmarks_agree(face: np.ndarray) -> None:
    expr = moved(face, {61: (0, -0.06), 291: (0, -0.06)})
    assert measure_aus(expr, face_features(face)) == measure_aus(expr, face)


def test_intensities_are_clipped_to_the_openface_range(face: np.ndarray) -> None:
    extreme = moved(face, {i: (0, -1.0) for i in BROWS} | {i: (0, 2.0) for i in LOWER_FACE})
    aus = measure_aus(extreme, face)
    assert all(0.0 <= v <= 5.0 for v in aus.values()), aus
    assert aus["AU01"] == 5.0 and aus["AU26"] == 5.0, aus


def test_canonical_face_is_the_default_baseline_and_reads_neutral(face: np.ndarray) -> None:
    assert np.allclose(face_features(face), NEUTRAL_PRIOR)
    assert all(v == 0.0 for v in measure_aus(face).values())


def test_a_stranger_against_the_prior_needs_a_larger_movement_than_a_known_face(face) -> None:
    # Given a small smile, read against the face's own baseline and against the canonical
    # prior (the same geometry here, but with the between-people dead zone),
    smile = moved(face, {61: (0, -0.05), 291: (0, -0.05)})
    own = au.aus_from_features(face_features(smile), face_features(face), prior_share=0.0)
    prior = au.aus_from_features(face_features(smile), None)
    # then the prior reading is more cautious.
    i = AU_NAMES.index("AU12")
    assert own[i] > prior[i], (own[i], prior[i])


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 3)), np.zeros((478,)), np.full((478, 3), np.nan), np.zeros((478, 3))],
    ids=["too-few-points", "flat", "nan", "eyes-coincide"],
)
def test_unusable_landmarks_raise_a_named_error(bad: np.ndarray) -> None:
    with pytest.raises(LandmarkShapeError):
        measure_aus(bad)


def test_a_baseline_of_the_wrong_length_is_refused(face: np.ndarray) -> None:
    with pytest.raises(LandmarkShapeError, match="features"):
        measure_aus(face, np.zeros(3))


def test_two_dimensional_landmarks_work_as_well_as_three(face: np.ndarray) -> None:
    expr = moved(face, {61: (0, -0.06), 291: (0, -0.06)})
    assert measure_aus(expr[:, :2], face[:, :2]) == pytest.approx(measure_aus(expr, face), abs=1e-9)
