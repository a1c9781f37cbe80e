"""LVLMRecognizer through create_recognizer: predictions, metadata, threshold, modes, cancel, errors."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from cer_desktop.contracts import Face, Recognizer, RecognizerError
from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND, UNCERTAIN
from cer_desktop.recognition.factory import create_recognizer
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.metadata import AdapterMetadata
from cer_desktop.recognition.lvlm.prompts import get_prompt
from cer_desktop.recognition.lvlm.recognizer import InferenceError, LoadCancelled, LVLMRecognizer
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec
from cer_desktop.testing.tiny_models import save_random_lora

LABELS_WITH_NEUTRAL = RAF_COMPOUND.with_neutral()


def _face(track_id: int, crop: np.ndarray) -> Face:
    return Face(
        track_id=track_id,
        frame_id=5,
        box=(0, 0, 100, 100),
        landmarks=np.zeros((478, 3), np.float32),
        aligned=crop,
    )


@pytest.fixture(scope="module")
def adapter_with_metadata(qwen_dir, tmp_path_factory):
    md = AdapterMetadata.create(
        LABELS_WITH_NEUTRAL,
        get_prompt("raf_compound"),
        crop_size=112,
        base_model=str(qwen_dir),
        recipe={"stage": 2},
    )
    return save_random_lora(qwen_dir, tmp_path_factory.mktemp("ad") / "stage2", metadata=md)


@pytest.fixture(scope="module")
def recognizer(qwen_dir):
    rec = create_recognizer(ModelSpec(base=str(qwen_dir)))
    yield rec
    rec.close()


def test_predicts_one_probability_per_label_for_every_face(recognizer, faces):
    assert isinstance(recognizer, Recognizer) and recognizer.name == "lvlm"
    preds = recognizer.predict([_face(1, faces[0]), _face(2, faces[1])], RAF_COMPOUND)
    assert [p.track_id for p in preds] == [1, 2]
    for p in preds:
        assert p.frame_id == 5 and p.label_set is RAF_COMPOUND and p.recognizer == "lvlm"
        assert len(p.probs) == 11 and abs(sum(p.probs) - 1.0) < 1e-6
        assert p.latency_ms > 0
        assert p.top_label in RAF_COMPOUND.labels
    assert recognizer.predict([], RAF_COMPOUND) == []


def test_aligned_crops_of_other_sizes_are_resized_to_the_model_crop(recognizer, faces):
    import cv2

    big = cv2.resize(faces[0], (300, 300), interpolation=cv2.INTER_CUBIC)
    pred = recognizer.predict([_face(1, big)], RAF_BASIC)[0]
    direct = recognizer.scorer.score(
        [cv2.resize(big, (224, 224), interpolation=cv2.INTER_AREA)], RAF_BASIC
    )
    np.testing.assert_allclose(pred.probs, direct[0], atol=1e-6)


def test_threshold_turns_a_weak_top_label_into_uncertain(qwen_dir, faces):
    rec = create_recognizer(ModelSpec(base=str(qwen_dir), threshold=0.99))
    try:
        pred = rec.predict([_face(1, faces[0])], RAF_COMPOUND)[0]
    finally:
        rec.close()
    assert pred.top_prob < 0.99, "a random tiny model is not that sure"
    assert pred.top_label == UNCERTAIN


def test_bad_crop_is_a_named_error(recognizer):
    with pytest.raises(InferenceError, match="RGB uint8"):
        recognizer.predict([_face(1, np.zeros((50, 50), np.uint8))], RAF_COMPOUND)


def test_adapter_metadata_sets_label_set_prompt_and_crop(qwen_dir, adapter_with_metadata, faces):
    # given an adapter trained on compounds + Neutral, 112 px crops, the compound prompt
    progress: list[tuple[float, str]] = []
    rec = create_recognizer(
        ModelSpec(base=str(qwen_dir), adapter=str(adapter_with_metadata)),
        progress=lambda f, m: progress.append((f, m)),
    )
    try:
        assert rec.label_set == LABELS_WITH_NEUTRAL
        assert rec.crop_size == 112 and rec.limits == ImageLimits.for_crop(112)
        assert rec.prompt is not None and rec.prompt.id == "raf_compound"
        pred = rec.predict([_face(3, faces[0])], LABELS_WITH_NEUTRAL)[0]
        # then its probabilities equal scoring the 112 px crop with the adapter's prompt
        import cv2

        crop = cv2.resize(faces[0], (112, 112), interpolation=cv2.INTER_AREA)
        scorer = ClosedSetScorer(
            rec.model, rec.processor, get_prompt("raf_compound"), ImageLimits.for_crop(112)
        )
        np.testing.assert_allclose(
            pred.probs, scorer.score([crop], LABELS_WITH_NEUTRAL)[0], atol=1e-6
        )
        assert "Neutral" in pred.label_set.labels
    finally:
        rec.close()
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0, progress


def test_cancel_discards_the_load(qwen_dir):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LoadCancelled):
        create_recognizer(ModelSpec(base=str(qwen_dir)), cancel=cancel)


def test_cancel_during_loading_stops_at_the_next_step(qwen_dir):
    cancel = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.2:  # the user cancels while the weights load
            cancel.set()

    with pytest.raises(LoadCancelled):
        LVLMRecognizer(ModelSpec(base=str(qwen_dir)), progress=progress, cancel=cancel)


def test_generate_mode_never_paints_an_unparsed_answer_as_a_label(qwen_dir, faces):
    rec = create_recognizer(ModelSpec(base=str(qwen_dir), mode="generate"))
    try:
        preds = rec.predict([_face(1, faces[0]), _face(2, faces[1])], RAF_COMPOUND)
    finally:
        rec.close()
    for p in preds:
        one_hot = max(p.probs) == 1.0
        # either the answer named a label (one-hot) or the face shows "uncertain"
        assert one_hot or p.top_label == UNCERTAIN, p


def test_missing_model_and_closed_recognizer_are_named_errors(tmp_path, qwen_dir, faces):
    with pytest.raises(RecognizerError, match="does not exist"):
        create_recognizer(ModelSpec(base=str(tmp_path / "gone")))
    rec = create_recognizer(ModelSpec(base=str(qwen_dir)))
    rec.close()
    rec.close()  # safe twice
    with pytest.raises(RecognizerError, match="closed"):
        rec.predict([_face(1, faces[0])], RAF_COMPOUND)


def test_no_spec_gives_the_instant_recognizer():
    importlib.import_module("cer_desktop.recognition.instant")
    rec = create_recognizer(None)
    assert rec.name == "instant"
    rec.close()


def test_session_manifest_records_the_dtype_and_device_auto_resolved_to(recognizer):
    from cer_desktop.recording.manifest import recognizer_fields

    # given a recognizer whose spec says dtype/device "auto" (fp32 on the CPU in tests)
    assert recognizer.spec.dtype == "auto" and recognizer.spec.device == "auto"
    # then a recording's manifest says what the model really runs in
    fields = recognizer_fields(recognizer, RAF_COMPOUND)
    assert fields["dtype"] == "float32" and fields["device"] == "cpu"
    assert fields["model"] == recognizer.spec.base and fields["recognizer"] == "lvlm"
    # and which scoring path ran (the recognizer warmed up on a face at load)
    assert fields["scoring_path"] == "single-pass + prompt cache", fields
