"""Action units from MediaPipe's face blendshapes: the mapping, its baseline, and the real
face landmarker on faces whose movement is known (the demo's warps of the astronaut photo)."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.contracts import Face
from cer_desktop.labels import RAF_BASIC
from cer_desktop.recognition.au import AU_NAMES, NEUTRAL_PRIOR, LandmarkShapeError
from cer_desktop.recognition.au_blendshapes import (
    AGREE,
    BLEND_PRIOR,
    BLENDSHAPE_AUS,
    FROM_GEOMETRY,
    LANDMARKER_PRIOR,
    STILL_PRIOR,
    aus_from_blend_features,
    blend_features,
    blendshape_scores,
)
from cer_desktop.recognition.au_geometry import canonical_landmarks
from cer_desktop.recognition.instant import InstantRecognizer

ALL_SHAPES = sorted({n for names in BLENDSHAPE_AUS.values() for n in names} | {"mouthClose"})


def shapes(**values: float) -> dict[str, float]:
    """MediaPipe's blendshapes at rest (all 0) with some set."""
    out = dict.fromkeys(ALL_SHAPES, 0.0)
    out.update(values)
    return out


def blend_face(blend: dict[str, float], track_id: int = 1) -> Face:
    return Face(
        track_id=track_id,
        frame_id=0,
        box=(0, 0, 100, 100),
        landmarks=canonical_landmarks(),  # MediaPipe's neutral face: AU06, AU09 from geometry
        aligned=np.zeros((8, 8, 3), np.uint8),
        blendshapes=blend,
    )


# --- the mapping -------------------------------------------------------------------------


def features(scores: np.ndarray) -> np.ndarray:
    """A blendshape-source feature vector: these AU scores, and a neutral geometry."""
    return np.concatenate([scores, LANDMARKER_PRIOR])


@pytest.mark.parametrize("au", [a for a in AU_NAMES if a not in ("AU25", "AU26")])
def test_each_au_reads_its_own_blendshapes_and_no_other(au: str) -> None:
    scores = blendshape_scores(shapes(**dict.fromkeys(BLENDSHAPE_AUS[au], 0.8)))
    assert scores[AU_NAMES.index(au)] == pytest.approx(0.8)
    others = np.delete(scores, AU_NAMES.index(au))
    assert np.all(others == 0.0), dict(zip(AU_NAMES, scores.round(2), strict=True))


def test_left_and_right_are_averaged() -> None:
    scores = blendshape_scores(shapes(mouthSmileLeft=0.8, mouthSmileRight=0.0))
    assert scores[AU_NAMES.index("AU12")] == pytest.approx(0.4)


def test_a_dropped_jaw_parts_the_lips_unless_they_stay_closed() -> None:
    au25, au26 = AU_NAMES.index("AU25"), AU_NAMES.index("AU26")
    open_mouth = blendshape_scores(shapes(jawOpen=0.6))
    assert open_mouth[au26] == pytest.approx(0.6) and open_mouth[au25] == pytest.approx(0.6)
    closed_lips = blendshape_scores(shapes(jawOpen=0.6, mouthClose=0.6))
    assert closed_lips[au26] == pytest.approx(0.6) and closed_lips[au25] == 0.0
    lip_down = blendshape_scores(shapes(mouthLowerDownLeft=0.5, mouthLowerDownRight=0.5))
    assert lip_down[au25] == pytest.approx(0.5) and lip_down[au26] == 0.0


def test_missing_or_broken_blendshapes_are_a_named_error() -> None:
    with pytest.raises(LandmarkShapeError, match="browInnerUp"):
        blendshape_scores({k: v for k, v in shapes().items() if k != "browInnerUp"})
    with pytest.raises(LandmarkShapeError, match="NaN"):
        blendshape_scores(shapes(browInnerUp=float("nan")))


def test_a_smile_does_not_read_as_an_upper_lip_raise_or_a_lip_stretch() -> None:
    # MediaPipe's model lifts mouthUpperUp and mouthStretch with a smile: that share is the
    # smile's; and an open jaw's share of mouthStretch is the jaw's
    smile = shapes(
        mouthSmileLeft=0.8, mouthSmileRight=0.8, mouthUpperUpLeft=0.3, mouthUpperUpRight=0.3,
        mouthStretchLeft=0.3, mouthStretchRight=0.3,
    )  # fmt: skip
    scores = blendshape_scores(smile)
    assert scores[AU_NAMES.index("AU10")] == 0.0 and scores[AU_NAMES.index("AU20")] == 0.0
    wide_open = blendshape_scores(shapes(jawOpen=0.6, mouthStretchLeft=0.1, mouthStretchRight=0.1))
    assert wide_open[AU_NAMES.index("AU20")] == 0.0
    # a real lip raise or stretch beyond that share still counts
    sneer = blendshape_scores(shapes(mouthUpperUpLeft=0.6, mouthUpperUpRight=0.6))
    assert sneer[AU_NAMES.index("AU10")] == pytest.approx(0.6)


def test_the_population_prior_reads_as_no_action_in_still_mode() -> None:
    assert np.all(aus_from_blend_features(BLEND_PRIOR) == 0.0)
    assert np.all(aus_from_blend_features(features(STILL_PRIOR)) == 0.0)
    # and a face's own rest pose reads as no action against itself (live mode)
    rest = features(
        blendshape_scores(shapes(mouthSmileLeft=0.3, mouthSmileRight=0.3, eyeBlinkLeft=0.2))
    )
    assert np.all(aus_from_blend_features(rest, rest) == 0.0)


def test_cheek_raise_and_nose_wrinkle_come_from_the_geometry() -> None:
    # their blendshapes barely move on real faces: a score there changes nothing
    assert set(FROM_GEOMETRY) == {"AU06", "AU09"}
    squint = shapes(
        cheekSquintLeft=1.0, cheekSquintRight=1.0, noseSneerLeft=1.0, noseSneerRight=1.0
    )
    assert np.all(aus_from_blend_features(features(blendshape_scores(squint))) == 0.0)


BROWS = (107, 66, 55, 65, 70, 63, 46, 53, 105, 52, 336, 296, 285, 295, 300, 293, 276, 283, 334, 282)


def moved(moves: dict[int, tuple[float, float]]) -> np.ndarray:
    """MediaPipe's canonical face with points moved by (dx, dy) inter-ocular units (y down)."""
    out = canonical_landmarks()
    iod = float(np.hypot(*((out[263, :2] + out[362, :2]) - (out[33, :2] + out[133, :2])) / 2))
    for i, (dx, dy) in moves.items():
        out[i, :2] += (dx * iod, dy * iod)
    return out


AGREEMENT_CASES = {
    "AU01": ({"browInnerUp": 0.8}, {i: (0.0, -0.12) for i in BROWS}),
    "AU02": ({"browOuterUpLeft": 0.8, "browOuterUpRight": 0.8}, {i: (0.0, -0.12) for i in BROWS}),
    "AU20": (
        {"mouthStretchLeft": 0.8, "mouthStretchRight": 0.8}, {61: (-0.08, 0.0), 291: (0.08, 0.0)}
    ),
}  # fmt: skip


@pytest.mark.parametrize("au", list(AGREEMENT_CASES))
def test_brow_raise_and_lip_stretch_count_only_as_far_as_both_sources_see_them(au) -> None:
    assert set(AGREE) == set(AGREEMENT_CASES)
    blend, moves = AGREEMENT_CASES[au]
    rest_landmarks = canonical_landmarks()
    rest = blend_features(shapes(), rest_landmarks)  # the person at rest (live mode)
    i = AU_NAMES.index(au)

    def read(blendshapes: dict[str, float], landmarks: np.ndarray) -> float:
        return float(aus_from_blend_features(blend_features(blendshapes, landmarks), rest)[i])

    both = read(shapes(**blend), moved(moves))
    assert both > 1.0
    # the blendshapes alone (the brows of some neutral people; a smile's or a jaw's share of
    # mouthStretch) and the geometry alone (a mesh fit off the brows) read as no action
    assert read(shapes(**blend), rest_landmarks) == 0.0
    assert read(shapes(), moved(moves)) == 0.0
    # the agreed intensity is the smaller of the two readings
    weaker = read(shapes(**dict.fromkeys(blend, 0.3)), moved(moves))
    assert 0.0 < weaker < both


def test_still_mode_reads_the_geometry_against_the_landmarker_prior() -> None:
    # the face landmarker's mesh sits differently from the legacy face mesh's on the same
    # faces (brows higher over the eyes, a wider mouth): its own neutral reads as no action,
    # and the two priors differ where the meshes do
    assert np.all(aus_from_blend_features(features(STILL_PRIOR)) == 0.0)
    names = ("brow_inner", "mouth_width")
    from cer_desktop.recognition.au_geometry import FEATURE_INDEX

    for name in names:
        j = FEATURE_INDEX[name]
        assert LANDMARKER_PRIOR[j] - NEUTRAL_PRIOR[j] > 0.02, name


def test_wrong_sizes_are_a_named_error() -> None:
    with pytest.raises(LandmarkShapeError, match="must have"):
        aus_from_blend_features(np.zeros(len(AU_NAMES)))


def test_intensity_grows_with_the_score_and_saturates() -> None:
    rest = features(np.zeros(len(AU_NAMES)))
    i12 = AU_NAMES.index("AU12")
    levels = [
        aus_from_blend_features(
            features(blendshape_scores(shapes(mouthSmileLeft=s, mouthSmileRight=s))), rest
        )[i12]
        for s in (0.0, 0.2, 0.4, 0.6, 1.0)
    ]
    assert levels[0] == 0.0
    assert all(b >= a for a, b in zip(levels, levels[1:], strict=False))
    assert levels[-1] == 5.0


# --- the instant recognizer on blendshape faces ------------------------------------------


def top(recognizer: InstantRecognizer, blend: dict[str, float], track_id: int = 1) -> str:
    return recognizer.predict([blend_face(blend, track_id)], RAF_BASIC)[0].top_label


def test_still_mode_names_textbook_blendshape_faces() -> None:
    still = InstantRecognizer(learn_baseline=False)
    smile = shapes(
        mouthSmileLeft=0.9, mouthSmileRight=0.9, cheekSquintLeft=0.5, cheekSquintRight=0.5
    )
    assert top(still, smile) == "Happiness"
    surprise = shapes(
        browInnerUp=0.8, browOuterUpLeft=0.8, browOuterUpRight=0.8, jawOpen=0.6,
        eyeWideLeft=0.5, eyeWideRight=0.5,
    )  # fmt: skip
    assert top(still, surprise) == "Surprise"
    anger = shapes(
        browDownLeft=0.8, browDownRight=0.8, eyeSquintLeft=0.8, eyeSquintRight=0.8,
        mouthPressLeft=0.7, mouthPressRight=0.7,
    )  # fmt: skip
    assert top(still, anger) == "Anger"
    assert top(still, {k: float(v) for k, v in shapes().items()}) == "Neutral"
    assert still.au_source == "blendshapes"


def test_an_open_mouth_alone_is_not_happiness() -> None:
    still = InstantRecognizer(learn_baseline=False)
    pred = still.predict([blend_face(shapes(jawOpen=0.7))], RAF_BASIC)[0]
    assert pred.top_label != "Happiness"
    assert pred.au is not None and pred.au["AU12"] == 0.0 and pred.au["AU15"] == 0.0


def test_live_mode_learns_each_face_own_rest_pose_from_its_blendshapes() -> None:
    clock = [0.0]
    live = InstantRecognizer(baseline_seconds=1.0, clock=lambda: clock[0])
    # a face whose rest pose smiles a little (MediaPipe reads some faces so)
    rest = shapes(mouthSmileLeft=0.45, mouthSmileRight=0.45)
    for _ in range(10):
        live.predict([blend_face(rest)], RAF_BASIC)
        clock[0] += 0.2
    assert live.baseline_state(1) == "frozen"
    assert top(live, rest) == "Neutral"  # its own rest pose is no expression
    grin = shapes(
        mouthSmileLeft=0.95, mouthSmileRight=0.95, cheekSquintLeft=0.4, cheekSquintRight=0.4
    )
    assert top(live, grin) == "Happiness"


def test_a_track_that_changes_au_source_starts_its_baseline_afresh() -> None:
    clock = [0.0]
    live = InstantRecognizer(baseline_seconds=0.5, clock=lambda: clock[0])
    for _ in range(6):
        live.predict([blend_face(shapes())], RAF_BASIC)
        clock[0] += 0.2
    assert live.baseline_state(1) == "frozen"
    geometry_face = Face(
        1, 1, (0, 0, 100, 100), canonical_landmarks(), np.zeros((8, 8, 3), np.uint8)
    )
    live.predict([geometry_face], RAF_BASIC)
    assert live.baseline_state(1) == "learning"
    assert live.au_source == "geometry"


# --- the real face landmarker on faces moved by known actions -----------------------------


@pytest.fixture(scope="module")
def landmarker_faces(face_landmarker_task):
    """Faces of the astronaut photo, at rest and warped by the demo's actions, as MediaPipe's
    face landmarker reads them (landmarks and blendshapes)."""
    import cv2
    from skimage import data

    from cer_desktop.vision.expression_warp import ExpressionWarper, astronaut_landmarks
    from cer_desktop.vision.landmarks import FaceMeshDetector

    photo = np.ascontiguousarray(data.astronaut())
    warper = ExpressionWarper(photo, astronaut_landmarks())
    # the same photo smaller and elsewhere in the frame: a scale and position change only
    moved = np.full_like(photo, 128)
    moved[60:444, 100:484] = cv2.resize(photo, (384, 384), interpolation=cv2.INTER_AREA)
    images = {
        "rest": photo,
        "moved": moved,
        "jaw_drop": warper.warp({"jaw_drop": 1.0}, 1.0),
        "surprise": warper.warp("surprise", 1.0),
        "brow_lower": warper.warp({"brow_lower": 1.0, "brow_together": 1.0}, 1.0),
        "anger": warper.warp("anger", 1.0),
    }
    out = {}
    with FaceMeshDetector(static_images=True, task_file=face_landmarker_task) as detector:
        for name, image in images.items():
            found = detector.detect(image)
            assert found and detector.last_blendshapes, f"no face in {name}"
            out[name] = Face(
                1, 0, (0, 0, 1, 1), found[0], np.zeros((1, 1, 3), np.uint8),
                blendshapes=detector.last_blendshapes[0],
            )  # fmt: skip
    return out


def read(faces: dict[str, Face], name: str):
    """`name` read live against the photo at rest (seeded as the person's neutral face)."""
    recognizer = InstantRecognizer()
    recognizer.seed_baseline(faces["rest"], track_id=1)
    return recognizer.predict([faces[name]], RAF_BASIC)[0]


def test_the_landmarker_gives_the_52_blendshapes(landmarker_faces) -> None:
    assert len(landmarker_faces["rest"].blendshapes) == 52
    assert InstantRecognizer().predict([landmarker_faces["rest"]], RAF_BASIC)[0].au is not None


def test_a_face_at_rest_moved_and_scaled_raises_no_clear_action(landmarker_faces) -> None:
    pred = read(landmarker_faces, "moved")
    assert pred.top_label == "Neutral", pred.au
    assert max(pred.au.values()) < 1.0, pred.au  # under a fifth of the range


def test_an_open_mouth_alone_parts_the_lips_and_is_not_a_smile(landmarker_faces) -> None:
    pred = read(landmarker_faces, "jaw_drop")
    assert pred.au["AU25"] >= 2.0, pred.au
    assert pred.au["AU12"] == 0.0 and pred.au["AU15"] == 0.0, pred.au
    assert pred.top_label not in ("Happiness", "Neutral"), pred.ranked(3)


def test_raised_brows_and_an_open_mouth_read_as_surprise(landmarker_faces) -> None:
    pred = read(landmarker_faces, "surprise")
    # (brows count as far as blendshapes and geometry both see them raised)
    assert pred.au["AU01"] >= 1.5 and pred.au["AU02"] >= 1.5, pred.au
    assert pred.top_label == "Surprise", pred.ranked(3)


def test_lowered_brows_register_and_anger_reads_as_anger(landmarker_faces) -> None:
    assert read(landmarker_faces, "brow_lower").au["AU04"] >= 1.0
    pred = read(landmarker_faces, "anger")
    assert pred.au["AU04"] >= 1.0 and pred.au["AU01"] == 0.0, pred.au
    assert pred.top_label == "Anger", pred.ranked(3)
