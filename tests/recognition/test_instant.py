"""The instant recognizer: prototype scoring, per-track baselines, and real warped faces."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.contracts import Face, Prediction, Recognizer, RecognizerError
from cer_desktop.labels import BUILTIN, C_EXPR, RAF_BASIC, RAF_COMPOUND, get_label_set
from cer_desktop.recognition.au import AU_NAMES, canonical_landmarks
from cer_desktop.recognition.instant import InstantRecognizer
from cer_desktop.recognition.prototypes import PROTOTYPES, PrototypeScorer, UnknownLabelError

# --- helpers -----------------------------------------------------------------------------


def make_face(landmarks: np.ndarray, track_id: int = 1, frame_id: int = 0) -> Face:
    return Face(
        track_id=track_id,
        frame_id=frame_id,
        box=(0, 0, 100, 100),
        landmarks=np.asarray(landmarks, dtype=np.float32),
        aligned=np.zeros((8, 8, 3), dtype=np.uint8),
    )


def smiled(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Mouth corners moved up and out by `amount` inter-ocular distances."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    iod = np.hypot(*((out[263, :2] + out[362, :2]) / 2 - (out[33, :2] + out[133, :2]) / 2))
    out[61, :2] += (-0.4 * amount * iod, -amount * iod)
    out[291, :2] += (0.4 * amount * iod, -amount * iod)
    return out


def aus(**values: float) -> np.ndarray:
    v = np.zeros(len(AU_NAMES))
    for name, x in values.items():
        v[AU_NAMES.index(name)] = x
    return v


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# --- prototype scoring -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (aus(AU12=4, AU25=3, AU06=2), "Happiness"),
        (aus(AU01=4, AU02=4, AU25=4, AU26=4, AU05=2), "Surprise"),
        (aus(AU04=4, AU07=3, AU24=3), "Anger"),
        (aus(AU04=3, AU15=4, AU01=2), "Sadness"),
        (aus(AU09=4, AU10=4, AU17=3), "Disgust"),
        (aus(AU01=3, AU04=3, AU20=4, AU25=3), "Fear"),
        (aus(), "Neutral"),
        (aus(AU12=0.4), "Neutral"),
    ],
)
def test_prototypes_name_the_basic_expression_of_textbook_evidence(evidence, expected) -> None:
    probs = PrototypeScorer(RAF_BASIC).probs(evidence)[0]
    assert RAF_BASIC.labels[int(np.argmax(probs))] == expected, dict(
        zip(RAF_BASIC.labels, probs.round(3), strict=True)
    )
    assert probs.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (aus(AU01=4, AU02=4, AU12=4, AU25=4), "Happily Surprised"),
        (aus(AU10=4, AU12=4, AU25=3), "Happily Disgusted"),
        (aus(AU04=4, AU07=4, AU15=4), "Sadly Angry"),
        (aus(AU04=4, AU25=4, AU26=4), "Angrily Surprised"),
        (aus(AU01=4, AU02=4, AU05=4, AU20=4, AU25=4), "Fearfully Surprised"),
    ],
)
def test_prototypes_name_the_compound_expression_of_textbook_evidence(evidence, expected) -> None:
    probs = PrototypeScorer(RAF_COMPOUND).probs(evidence)[0]
    assert RAF_COMPOUND.labels[int(np.argmax(probs))] == expected, dict(
        zip(RAF_COMPOUND.labels, probs.round(3), strict=True)
    )


def test_every_builtin_label_has_a_prototype() -> None:
    for label_set in BUILTIN.values():
        scorer = PrototypeScorer(label_set)
        assert len(scorer.categories) == len(label_set.labels)
    assert "Happily Surprised" in PROTOTYPES and "Fearfully Surprised" in C_EXPR.labels


def test_neutral_wins_on_a_still_face_only_when_the_set_has_it() -> None:
    still = aus()
    with_neutral = PrototypeScorer(C_EXPR.with_neutral()).probs(still)[0]
    assert C_EXPR.with_neutral().labels[int(np.argmax(with_neutral))] == "Neutral"
    without = PrototypeScorer(C_EXPR).probs(still)[0]
    assert without.max() < 0.5, (
        "with no Neutral label, no compound should be confident on a still face"
    )


def test_a_custom_set_of_known_names_and_aliases_works_and_unknown_labels_are_refused() -> None:
    scorer = PrototypeScorer(get_label_set("custom:happy,Sad,neutral"))
    assert scorer.categories == ("Happiness", "Sadness", "Neutral")
    with pytest.raises(UnknownLabelError, match="Contempt") as info:
        PrototypeScorer(get_label_set("custom:Happiness,Contempt"))
    assert isinstance(info.value, RecognizerError), "the UI shows RecognizerErrors"


# --- the recognizer on synthetic landmarks ------------------------------------------------


def test_it_implements_the_recognizer_protocol_and_fills_every_field() -> None:
    rec = InstantRecognizer(threshold=0.3)
    assert isinstance(rec, Recognizer) and rec.name == "instant"
    faces = [
        make_face(canonical_landmarks(), track_id=7, frame_id=3),
        make_face(smiled(canonical_landmarks(), 0.08), 9, 3),
    ]
    preds = rec.predict(faces, RAF_BASIC)
    assert [p.track_id for p in preds] == [7, 9]
    for p in preds:
        assert isinstance(p, Prediction) and p.frame_id == 3 and p.label_set == RAF_BASIC
        assert sum(p.probs) == pytest.approx(1.0)
        assert p.au is not None and list(p.au) == list(AU_NAMES)
        assert p.recognizer == "instant" and p.latency_ms > 0.0 and p.threshold == 0.3
    assert rec.predict([], RAF_BASIC) == []
    rec.close()
    rec.close()


@pytest.mark.parametrize("learn_baseline", [True, False], ids=["live", "still"])
def test_a_still_image_of_the_canonical_neutral_face_reads_neutral(learn_baseline) -> None:
    rec = InstantRecognizer(learn_baseline=learn_baseline)
    assert rec.mode == ("live" if learn_baseline else "still")
    pred = rec.predict([make_face(canonical_landmarks())], RAF_BASIC)[0]
    assert pred.top_label == "Neutral", pred.ranked(3)
    assert all(v < 0.1 for v in pred.au.values()), pred.au


def test_an_open_mouth_alone_points_to_surprise_or_fear_never_to_happiness() -> None:
    # Given textbook evidence of an open mouth without a smile (lips apart, jaw dropped),
    for evidence in (aus(AU25=4, AU26=3), aus(AU25=4), aus(AU25=3, AU26=4, AU01=1)):
        probs = PrototypeScorer(RAF_BASIC).probs(evidence)[0]
        top = RAF_BASIC.labels[int(np.argmax(probs))]
        # then the face is not called happy; with the brows up it is surprise.
        assert top != "Happiness", dict(zip(RAF_BASIC.labels, probs.round(3), strict=True))
    assert top in ("Surprise", "Fear"), top


def test_happiness_needs_the_smile_and_the_cheek_raise_supports_it() -> None:
    scorer = PrototypeScorer(RAF_BASIC)
    i = scorer.label_set.labels.index("Happiness")
    smile = scorer.probs(aus(AU12=3))[0][i]
    duchenne = scorer.probs(aus(AU12=3, AU06=3))[0][i]
    open_mouth = scorer.probs(aus(AU25=3))[0][i]
    assert duchenne > smile > 0.5 > open_mouth, (duchenne, smile, open_mouth)


def test_the_instant_tier_records_its_version_and_mode_in_the_manifest() -> None:
    from cer_desktop.recognition.instant import INSTANT_VERSION
    from cer_desktop.recording.manifest import recognizer_fields

    fields = recognizer_fields(InstantRecognizer(learn_baseline=False), RAF_BASIC)
    assert fields["recognizer"] == "instant"
    assert fields["recognizer_version"] == INSTANT_VERSION
    assert fields["recognizer_mode"] == "still"
    assert recognizer_fields(InstantRecognizer())["recognizer_mode"] == "live"


def test_the_baseline_is_learned_per_track_then_frozen_and_resettable() -> None:
    # Given a person whose face at rest has raised mouth corners (a "smiley" resting face),
    clock = FakeClock()
    rec = InstantRecognizer(baseline_seconds=2.0, clock=clock)
    resting = smiled(canonical_landmarks(), 0.06)
    # when the track first appears, it reads against the canonical prior: a smile;
    first = rec.predict([make_face(resting, track_id=1)], RAF_BASIC)[0]
    assert first.top_label == "Happiness", first.ranked(3)
    assert rec.baseline_state(1) == "learning"
    # after the baseline window of frames at rest, the same face reads neutral,
    for frame in range(1, 70):
        clock.t += 1 / 30
        last = rec.predict([make_face(resting, track_id=1, frame_id=frame)], RAF_BASIC)[0]
    assert rec.baseline_state(1) == "frozen"
    assert last.top_label == "Neutral", last.ranked(3)
    # and a real smile on top of it reads as happiness again.
    big = rec.predict([make_face(smiled(resting, 0.08), track_id=1)], RAF_BASIC)[0]
    assert big.top_label == "Happiness", big.ranked(3)
    # Another track is not affected by this one's baseline.
    other = rec.predict([make_face(resting, track_id=2)], RAF_BASIC)[0]
    assert other.top_label == "Happiness" and rec.baseline_state(2) == "learning"
    # Resetting forgets the learned baseline: the resting face reads as a smile again.
    rec.reset_baseline(1)
    assert rec.baseline_state(1) == "default"
    again = rec.predict([make_face(resting, track_id=1)], RAF_BASIC)[0]
    assert again.top_label == "Happiness", again.ranked(3)


def test_while_learning_a_face_at_rest_stays_near_neutral() -> None:
    clock = FakeClock()
    rec = InstantRecognizer(baseline_seconds=2.0, clock=clock)
    rest = canonical_landmarks()
    labels = []
    for frame in range(30):  # one second: still learning
        clock.t += 1 / 30
        labels.append(rec.predict([make_face(rest, frame_id=frame)], RAF_BASIC)[0].top_label)
    assert rec.baseline_state(1) == "learning"
    assert set(labels) == {"Neutral"}, labels


def test_an_expression_during_learning_does_not_become_the_baseline() -> None:
    # Given a track that smiles for a fifth of its baseline window and rests otherwise,
    clock = FakeClock()
    rec = InstantRecognizer(baseline_seconds=1.0, clock=clock)
    rest, smile = canonical_landmarks(), smiled(canonical_landmarks(), 0.1)
    for frame in range(40):
        clock.t += 1 / 30
        rec.predict([make_face(smile if frame % 5 == 0 else rest, frame_id=frame)], RAF_BASIC)
    assert rec.baseline_state(1) == "frozen"
    # then afterwards the smile still reads as happiness and the rest pose as neutral.
    assert rec.predict([make_face(smile)], RAF_BASIC)[0].top_label == "Happiness"
    assert rec.predict([make_face(rest)], RAF_BASIC)[0].top_label == "Neutral"


def test_a_seeded_baseline_is_used_at_once() -> None:
    rec = InstantRecognizer()
    resting = smiled(canonical_landmarks(), 0.06)
    rec.seed_baseline(resting, track_id=4)
    assert rec.baseline_state(4) == "frozen"
    assert rec.predict([make_face(resting, track_id=4)], RAF_BASIC)[0].top_label == "Neutral"
    # Seeding the default baseline applies to still images (learning off) of any track.
    still = InstantRecognizer(learn_baseline=False)
    still.seed_baseline(make_face(resting))
    assert still.predict([make_face(resting, track_id=11)], RAF_BASIC)[0].top_label == "Neutral"
    still.clear_seed()
    assert still.predict([make_face(resting, track_id=11)], RAF_BASIC)[0].top_label == "Happiness"


def test_bad_landmarks_and_bad_settings_give_named_errors() -> None:
    rec = InstantRecognizer()
    with pytest.raises(RecognizerError, match="face 5"):
        rec.predict([make_face(np.zeros((20, 3)), track_id=5)], RAF_BASIC)
    with pytest.raises(UnknownLabelError):
        rec.predict([make_face(canonical_landmarks())], get_label_set("custom:Boredom,Happiness"))
    with pytest.raises(ValueError):
        InstantRecognizer(threshold=1.5)
    with pytest.raises(ValueError):
        InstantRecognizer(baseline_seconds=-1)


# --- real faces: the astronaut photo warped by displacements defined apart from the AU code --

WARPS = ("neutral", "happy", "surprise", "anger", "happily_surprised")


@pytest.fixture(scope="module")
def warped_landmarks(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    """MediaPipe's landmarks of the astronaut photo as is ("photo") and warped per expression."""
    from cer_desktop.vision.expression_warp import ExpressionWarper, astronaut_landmarks
    from cer_desktop.vision.landmarks import FaceMeshDetector

    warper = ExpressionWarper(astronaut, astronaut_landmarks())
    out: dict[str, np.ndarray] = {}
    with FaceMeshDetector(max_faces=1, static_images=True) as detector:
        for name, image in [("photo", astronaut)] + [(w, warper.warp(w, 1.0)) for w in WARPS]:
            found = detector.detect(image)
            assert len(found) == 1, f"MediaPipe should find the face in the {name} image"
            out[name] = found[0]
    return out


@pytest.fixture()
def seeded(warped_landmarks: dict[str, np.ndarray]) -> InstantRecognizer:
    """A recognizer whose track 1 has the unwarped photo as its neutral baseline."""
    rec = InstantRecognizer()
    rec.seed_baseline(warped_landmarks["photo"], track_id=1)
    return rec


@pytest.mark.parametrize(
    ("warp", "expected"),
    [("neutral", "Neutral"), ("happy", "Happiness"), ("surprise", "Surprise"), ("anger", "Anger")],
)
def test_warped_real_faces_rank_the_intended_basic_expression_first(
    warped_landmarks, seeded, warp: str, expected: str
) -> None:
    # Given the astronaut's own photo as the baseline and a warped version of it,
    pred = seeded.predict([make_face(warped_landmarks[warp])], RAF_BASIC)[0]
    # then the intended expression is ranked first among the RAF-DB basic labels.
    assert pred.ranked(1)[0][0] == expected, f"{warp}: {pred.ranked(3)}; AUs {pred.au}"


def test_the_surprise_warp_reads_as_brows_up_with_the_jaw_dropped(warped_landmarks, seeded) -> None:
    au = seeded.predict([make_face(warped_landmarks["surprise"])], RAF_BASIC)[0].au
    assert au["AU01"] > 1.0 and au["AU02"] > 1.0 and au["AU26"] > 1.0, au


def test_the_anger_warp_reads_as_brows_lowered(warped_landmarks, seeded) -> None:
    au = seeded.predict([make_face(warped_landmarks["anger"])], RAF_BASIC)[0].au
    assert au["AU04"] > 1.0 and au["AU01"] == 0.0, au


def test_happy_plus_surprise_ranks_happily_surprised_first_among_compounds(
    warped_landmarks, seeded
) -> None:
    pred = seeded.predict([make_face(warped_landmarks["happily_surprised"])], RAF_COMPOUND)[0]
    assert pred.ranked(1)[0][0] == "Happily Surprised", pred.ranked(3)
    c_expr = seeded.predict([make_face(warped_landmarks["happily_surprised"])], C_EXPR)[0]
    assert c_expr.ranked(1)[0][0] == "Happily Surprised", c_expr.ranked(3)


def test_a_baseline_learned_from_the_photo_keeps_the_neutral_warp_neutral(warped_landmarks) -> None:
    # Given a track learned from the (smiling) photo over the baseline window,
    clock = FakeClock()
    rec = InstantRecognizer(baseline_seconds=2.0, clock=clock)
    for frame in range(65):
        clock.t += 1 / 30
        rec.predict([make_face(warped_landmarks["photo"], frame_id=frame)], RAF_BASIC)
    assert rec.baseline_state(1) == "frozen"
    # then the neutral warp reads neutral and the happy warp reads happy.
    assert (
        rec.predict([make_face(warped_landmarks["neutral"])], RAF_BASIC)[0].top_label == "Neutral"
    )
    assert (
        rec.predict([make_face(warped_landmarks["happy"])], RAF_BASIC)[0].top_label == "Happiness"
    )


def test_the_photo_alone_against_the_canonical_prior_reads_as_the_smile_it_shows(
    warped_landmarks,
) -> None:
    # The astronaut smiles broadly in the photo: with no history, that is what should show.
    pred = InstantRecognizer(learn_baseline=False).predict(
        [make_face(warped_landmarks["photo"])], RAF_BASIC
    )[0]
    assert pred.top_label == "Happiness", pred.ranked(3)
    assert pred.au["AU12"] > 2.0, pred.au
