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
from cer_desktop.recognition.au_calibration import STILL_SPREAD

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


# Each AU on MediaPipe's canonical face moved per FACS by a known amount (IOD units), read
# live (against the face at rest): the intensity is pinned to 5 * (move - dead) / full with
# the dead zone and full scale of `au._SCALES`, and every other AU stays at zero.
INNER_BROWS = (107, 66, 55, 65, 336, 296, 285, 295)
FACS_MOVES: dict[str, tuple[dict[int, tuple[float, float]], dict[str, float]]] = {
    "AU01+AU02 brows raised 0.12": (
        {i: (0, -0.12) for i in BROWS},
        {"AU01": 3.5, "AU02": 3.5},
    ),
    "AU01 inner brows raised 0.10": ({i: (0, -0.10) for i in INNER_BROWS}, {"AU01": 2.833}),
    "AU04 brows lowered 0.08 and drawn together 0.03": (
        {i: (0.03 if i in RIGHT_BROW else -0.03, 0.08) for i in BROWS},
        {"AU04": 3.167},
    ),
    "AU05 upper lids raised 0.04": ({159: (0, -0.04), 386: (0, -0.04)}, {"AU05": 3.2}),
    "AU41 upper lids lowered 0.03": ({159: (0, 0.03), 386: (0, 0.03)}, {"AU41": 2.2}),
    "AU07 lower lids raised 0.03": ({145: (0, -0.03), 374: (0, -0.03)}, {"AU07": 2.2}),
    "AU06 cheeks and lower lids raised 0.03": (
        {i: (0, -0.03) for i in (145, 374, 117, 50, 346, 280)},
        {"AU06": 2.2},
    ),
    "AU09 nose wings raised 0.05": (
        {i: (0, -0.05) for i in (129, 64, 48, 358, 294, 278)},
        {"AU09": 2.857},
    ),
    "AU10 upper lip raised 0.07": ({0: (0, -0.07)}, {"AU10": 3.222}),
    "AU12 corners raised 0.08": ({61: (0, -0.08), 291: (0, -0.08)}, {"AU12": 3.25}),
    "AU15 corners lowered 0.06": ({61: (0, 0.06), 291: (0, 0.06)}, {"AU15": 3.429}),
    "AU20 corners pulled out 0.06": ({61: (-0.06, 0), 291: (0.06, 0)}, {"AU20": 3.5, "AU12": 1.05}),
    "AU23 mouth narrowed 0.05 a side": ({61: (0.05, 0), 291: (-0.05, 0)}, {"AU23": 3.542}),
    "AU24 lips pressed thin 0.03": ({0: (0, 0.03), 17: (0, -0.03)}, {"AU24": 3.125}),
    # The jaw drops 0.15: lower lip and chin go down, the corners (the hinge of the two lips)
    # half as far; lips part and the jaw drops, and no corner AU is read.
    "AU25+AU26 jaw dropped 0.15": (
        {i: (0, 0.15) for i in LOWER_FACE} | {61: (0, 0.075), 291: (0, 0.075)},
        {"AU25": 3.25, "AU26": 3.25},
    ),
    # The upper lip rises and parts the lips with the jaw closed: AU25 without AU26.
    "AU10+AU25 upper lip raised 0.06, jaw closed": (
        {0: (0, -0.06), 13: (0, -0.06), 61: (0, -0.03), 291: (0, -0.03)},
        {"AU10": 2.667, "AU25": 1.0},
    ),
}


@pytest.mark.parametrize("case", list(FACS_MOVES))
def test_each_action_unit_reads_its_facs_movement_and_nothing_else(face, case) -> None:
    moves, expected = FACS_MOVES[case]
    aus = measure_aus(moved(face, moves), face)
    for name in AU_NAMES:
        assert aus[name] == pytest.approx(expected.get(name, 0.0), abs=0.01), (name, aus)


def test_a_stronger_movement_reads_stronger_up_to_the_openface_maximum(face) -> None:
    readings = [
        measure_aus(moved(face, {61: (0, -a), 291: (0, -a)}), face)["AU12"]
        for a in (0.01, 0.04, 0.08, 0.2)
    ]
    assert readings[0] == 0.0, "a movement inside the dead zone is no action"
    assert readings[0] < readings[1] < readings[2] < readings[3] == 5.0, readings


def test_mouth_corners_up_and_out_read_stronger_than_up_alone(face: np.ndarray) -> None:
    up = measure_aus(moved(face, {61: (0, -0.05), 291: (0, -0.05)}), face)
    up_out = measure_aus(moved(face, {61: (-0.04, -0.05), 291: (0.04, -0.05)}), face)
    assert up_out["AU12"] > up["AU12"] > 0.0, (up, up_out)
    assert up_out["AU20"] == 0.0, "widening that comes with a smile is the smile's"


@pytest.mark.parametrize("opening", [0.1, 0.2, 0.35])
def test_an_open_mouth_alone_raises_neither_au12_nor_au15(face, opening) -> None:
    # Given the jaw dropped (lower lip and chin down, corners at the middle of the opening),
    moves = {i: (0, opening) for i in LOWER_FACE} | {61: (0, opening / 2), 291: (0, opening / 2)}
    aus = measure_aus(moved(face, moves), face)
    # then the lips part and the jaw drops, and the corners read neither up nor down.
    assert aus["AU25"] > 0.0 and aus["AU26"] > 0.0, aus
    assert aus["AU12"] == 0.0 and aus["AU15"] == 0.0, aus
    assert aus["AU17"] == 0.0 and aus["AU20"] == 0.0, aus


def test_lower_lip_and_chin_pushed_up_is_au17(face: np.ndarray) -> None:
    aus = measure_aus(moved(face, {17: (0, -0.03), 152: (0, -0.09)}), face)
    assert aus["AU17"] == pytest.approx(1.125, abs=0.01), aus
    assert aus["AU26"] == 0.0 and aus["AU25"] == 0.0 and aus["AU15"] == 0.0, aus


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


@pytest.mark.parametrize(
    "pose",
    ["scale 0.4", "scale 3", "roll 30", "yaw 30", "pitch -20", "yaw 20 pitch 15"],
)
@pytest.mark.parametrize("mode", ["live", "still"])
def test_a_neutral_face_turned_or_rescaled_raises_no_action(face, pose, mode) -> None:
    # Given the neutral canonical face moved as a whole: scaled, rolled or turned,
    kind = pose.split()
    if kind[0] in ("scale", "roll"):
        value = float(kind[1])
        posed = similarity(
            face, value if kind[0] == "scale" else 1.0, value if kind[0] == "roll" else 0.0, (7, -3)
        )
    else:
        yaw = float(kind[kind.index("yaw") + 1]) if "yaw" in kind else 0.0
        pitch = float(kind[kind.index("pitch") + 1]) if "pitch" in kind else 0.0
        posed = head_turned(face, yaw, pitch)
    # when read live (against the face at rest) or as a still (against the population prior),
    aus = measure_aus(posed, face if mode == "live" else None)
    # then the pose adds no AU: none fires live, and a still reads what the frontal face does.
    reference = measure_aus(face, face if mode == "live" else None)
    assert aus == pytest.approx(reference, abs=1e-6), aus
    if mode == "live":
        assert others(aus) == {}, aus


def test_the_canonical_neutral_face_read_as_a_still_shows_no_action(face: np.ndarray) -> None:
    # The population prior (real neutral faces as MediaPipe measures them) differs from the
    # canonical 3-D model by less than the spread between people.
    # (The canonical model's upper lids sit a little lower than real faces': a trace of AU41.)
    assert all(v < 0.1 for v in measure_aus(face).values()), measure_aus(face)
    assert not np.allclose(NEUTRAL_PRIOR, au.CANONICAL_FEATURES), (
        "the prior is measured, not canonical"
    )


def test_a_still_ignores_a_displacement_within_the_spread_between_people(face) -> None:
    # Given the inner brows raised by just under one between-people spread over the prior,
    spread = STILL_SPREAD["AU01"]
    base = au.NEUTRAL_PRIOR.copy()
    raised = base.copy()
    raised[au.FEATURE_NAMES.index("brow_inner")] += 0.95 * spread
    # then a still reads nothing, while the same displacement on a known face is an AU1,
    assert au.aus_from_features(raised, None)[AU_NAMES.index("AU01")] == 0.0
    assert au.aus_from_features(raised, base, prior_share=0.0)[AU_NAMES.index("AU01")] > 0.5
    # and twice the spread reads as an AU1 in a still too.
    raised[au.FEATURE_NAMES.index("brow_inner")] += spread
    assert au.aus_from_features(raised, None)[AU_NAMES.index("AU01")] > 0.5


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
