"""Every family of the registry: closed-set scores equal the one-label-at-a-time reference.

Each family's tiny model is built from its own transformers classes (`testing/families`),
loaded as the app loads it and scored for every built-in label set on the path its code
allows; the scores must equal `reference_log_likelihoods` within 1e-4 (fp32). Which path
runs is asserted too: a family that silently fell to a slower path would fail here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cer_desktop.labels import BUILTIN
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.testing.families import FAMILIES

INIT_STD = 0.15  # large random weights: next-token distributions far from uniform

# The path each family's code allows on the installed transformers, and why where it is slower.
EXPECTED_PATH = {
    "qwen2_vl": "single-pass + prompt cache",
    "qwen2_5_vl": "single-pass + prompt cache",
    "llava": "single-pass",  # its chat template puts the image first: no static prefix
    "qwen3_vl": "single-pass + prompt cache",
    "qwen3_5": "two-pass + prompt cache",  # linear-attention layers: see the reason below
    # scored exactly in tests/recognition/lvlm/test_families_b_scoring.py
    "smolvlm": "single-pass + prompt cache",
    "gemma3": "single-pass + prompt cache",
    "internvl": "single-pass + prompt cache",
    "llava_onevision": "single-pass",  # its template puts the image first: no static prefix
}
NEW_FAMILIES = ("qwen3_vl", "qwen3_5")  # the older three have their own exactness tests


@pytest.fixture(scope="module", params=NEW_FAMILIES)
def family_loaded(request, tmp_path_factory: pytest.TempPathFactory):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    family = FAMILIES[request.param]
    folder = tmp_path_factory.mktemp("family") / family.model_type
    family.build_tiny(folder, init_std=INIT_STD)  # type: ignore[call-arg]
    model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32"))
    return family, model, processor


def test_every_family_names_its_expected_path():
    # a family added to the registry must say which path it is expected on
    assert set(FAMILIES) == set(EXPECTED_PATH), "add the new family to EXPECTED_PATH"


@pytest.mark.parametrize("label_set", list(BUILTIN.values()), ids=lambda s: s.name)
def test_family_scores_equal_the_reference(family_loaded, label_set, faces):
    # given a tiny model of the family, loaded as the app loads it, and two faces
    family, model, processor = family_loaded
    assert model.config.model_type == family.model_type
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    # when both faces are scored together, and each label one at a time
    batched = scorer.log_likelihoods(faces[:2], label_set)
    reference = reference_log_likelihoods(
        model, processor, faces[:2], label_set, None, ImageLimits()
    )
    # then they agree, on the path the family's code allows
    assert np.ptp(reference) > 1.0, "the reference must discriminate labels, or the test is vacuous"
    np.testing.assert_allclose(batched, reference, atol=1e-4, rtol=0)
    assert scorer.path == EXPECTED_PATH[family.model_type], scorer.capabilities.reasons


def test_family_two_pass_equals_its_fast_path(family_loaded, faces):
    # the path switches of the benchmarks give the same scores on every family
    family, model, processor = family_loaded
    label_set = BUILTIN["raf_compound"]
    fast = ClosedSetScorer(model, processor, None, ImageLimits())
    slow = ClosedSetScorer(model, processor, None, ImageLimits())
    slow.single_pass = False
    slow.reuse_prompt_cache = False
    a = fast.log_likelihoods(faces[:2], label_set)
    b = slow.log_likelihoods(faces[:2], label_set)
    assert slow.path == "two-pass", slow.path
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def test_linear_attention_sends_qwen3_5_to_two_passes_with_the_reason(family_loaded):
    family, model, processor = family_loaded
    caps = ClosedSetScorer(model, processor).capabilities
    if family.model_type != "qwen3_5":
        assert caps.single_pass, caps.reasons
        return
    # decided from the layer types the config declares, and said
    assert not caps.single_pass and caps.prompt_cache
    assert any("linear_attention" in r for r in caps.reasons), caps.reasons


def test_qwen3_vl_face_is_49_image_tokens(tmp_path: Path):
    # 16-px patches merged 2x2: a 224-px face is 7 x 7 = 49 image tokens (Qwen2-VL: 64)
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.encoding import encode_prompts
    from cer_desktop.recognition.lvlm.prompts import prompt_for
    from cer_desktop.testing.families.qwen3_vl import processor_for, trained_tokenizer

    processor = processor_for(trained_tokenizer())
    face = np.zeros((224, 224, 3), np.uint8)
    batch = encode_prompts(processor, [face], RAF_COMPOUND, prompt_for(RAF_COMPOUND), ImageLimits())
    assert int((batch["input_ids"] == processor.image_token_id).sum()) == 49
    assert batch["image_grid_thw"].tolist() == [[1, 14, 14]]


@pytest.fixture(scope="module")
def qwen3vl_real_vocab(tmp_path_factory: pytest.TempPathFactory, qwen3vl_tokenizer):
    """A tiny Qwen3-VL on the real vocabulary and its 151,936-row embedding."""
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec
    from cer_desktop.testing.families.qwen3_vl import QWEN3VL_VOCAB_SIZE, build_tiny_qwen3vl

    folder = build_tiny_qwen3vl(
        tmp_path_factory.mktemp("family") / "qwen3vl_real",
        tokenizer=qwen3vl_tokenizer,
        vocab_size=QWEN3VL_VOCAB_SIZE,
        init_std=INIT_STD,
    )
    return load_base(ModelSpec(base=str(folder), dtype="fp32"))


@pytest.mark.parametrize("label_set", list(BUILTIN.values()), ids=lambda s: s.name)
def test_qwen3_vl_on_its_real_vocabulary_equals_the_reference(qwen3vl_real_vocab, label_set, faces):
    # labels of 2-7 tokens with deep shared prefixes, in one pass and in two
    model, processor = qwen3vl_real_vocab
    one = ClosedSetScorer(model, processor, None, ImageLimits())
    two = ClosedSetScorer(model, processor, None, ImageLimits())
    two.single_pass = False
    single = one.log_likelihoods(faces[:2], label_set)
    double = two.log_likelihoods(faces[:2], label_set)
    reference = reference_log_likelihoods(model, processor, faces[:2], label_set)
    assert one.path == "single-pass + prompt cache", one.path
    assert np.ptp(reference) > 1.0, "the reference must discriminate labels, or the test is vacuous"
    np.testing.assert_allclose(single, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(double, reference, atol=1e-4, rtol=0)
