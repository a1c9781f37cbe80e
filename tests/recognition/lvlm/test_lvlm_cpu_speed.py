"""CPU speed modes: int8 dynamic quantisation stays within 0.03 of fp32; bad requests say why."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.cpu_speed import SpeedModeError, apply_cpu_speed_mode
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.loading import load_base
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec


@pytest.fixture(scope="module")
def moderate_dir(tmp_path_factory):
    """A tiny Qwen2-VL whose label probabilities are spread (0.15-0.2 at the top, 11 labels).

    The shared test models' larger weights (std 0.15) make fp32 all but certain, where no
    quantisation error could show; wider models with std 0.08-0.1 moved by int8 by up to 0.13
    (BENCHMARKS.md): why the mode stays opt-in.
    """
    from cer_desktop.testing.tiny_models import build_tiny_qwen2vl

    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny") / "moderate", init_std=0.05)


def test_int8_dynamic_probabilities_stay_within_003_of_fp32(moderate_dir, faces):
    # given the same built model twice in fp32, one of them with int8 dynamic linears
    folder = moderate_dir
    ref_model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
    q_model, _ = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
    apply_cpu_speed_mode(q_model, "int8-dynamic")
    # when both score the same faces
    reference = ClosedSetScorer(ref_model, processor, None, ImageLimits()).score(
        faces, RAF_COMPOUND
    )
    quantized = ClosedSetScorer(q_model, processor, None, ImageLimits()).score(faces, RAF_COMPOUND)
    # then the linear layers really changed, and the probabilities stay within 0.03
    assert type(q_model.lm_head).__module__.startswith("torch.ao.nn.quantized"), (
        "the output layer should be an int8 dynamic linear"
    )
    top = reference.max(axis=1)
    assert top.max() < 0.9, "fp32 must not be certain, or the check is vacuous"
    assert top.min() > 1.5 / len(RAF_COMPOUND), "fp32 must not be uniform, or the check is vacuous"
    diff = np.abs(quantized - reference).max()
    assert 0 < diff <= 0.03, f"int8 dynamic moved a probability by {diff:.4f}"


def test_speed_modes_refuse_what_they_cannot_do(qwen_dir):
    model, _ = load_base(ModelSpec(base=str(qwen_dir), dtype="bf16", device="cpu"))
    with pytest.raises(SpeedModeError, match="fp32"):
        apply_cpu_speed_mode(model, "int8-dynamic")
    with pytest.raises(SpeedModeError, match="unknown"):
        apply_cpu_speed_mode(model, "turbo")
    assert apply_cpu_speed_mode(model, "none") is model


def test_packed_bf16_linears_give_the_plain_bf16_probabilities(moderate_dir, faces):
    # given the same built model twice in bf16, one with its linears packed for oneDNN
    plain, processor = load_base(ModelSpec(base=str(moderate_dir), dtype="bf16", device="cpu"))
    packed, _ = load_base(ModelSpec(base=str(moderate_dir), dtype="bf16", device="cpu"))
    apply_cpu_speed_mode(packed, "packed")
    # when both score the same faces (and generation runs through the packed layers too)
    p_plain = ClosedSetScorer(plain, processor, None, ImageLimits()).score(faces, RAF_COMPOUND)
    scorer = ClosedSetScorer(packed, processor, None, ImageLimits())
    p_packed = scorer.score(faces, RAF_COMPOUND)
    # then every linear and the patch convolution were swapped, and the probabilities are
    # the plain bf16 ones
    kinds = {type(m).__name__ for m in packed.modules()}
    assert "PackedLinear" in kinds and "Linear" not in kinds, kinds
    assert "Conv3d" in {type(m).__name__ for m in plain.modules()}, "no patch conv to check"
    assert "PatchLinear" in kinds and "Conv3d" not in kinds, kinds
    assert scorer.path == "single-pass + prompt cache", scorer.path
    np.testing.assert_allclose(p_packed, p_plain, atol=2e-3)
    top = p_plain.max(axis=1)
    assert top.min() > 1.5 / len(RAF_COMPOUND), "bf16 must not be uniform, or the check is vacuous"


def test_packing_refuses_a_model_without_bf16_linears(moderate_dir):
    model, _ = load_base(ModelSpec(base=str(moderate_dir), dtype="fp32", device="cpu"))
    with pytest.raises(SpeedModeError, match="bf16"):
        apply_cpu_speed_mode(model, "packed")


def test_the_app_packs_a_bf16_cpu_model_by_default_but_never_an_adapter(moderate_dir, monkeypatch):
    from peft import LoraConfig, get_peft_model

    from cer_desktop.recognition.lvlm.cpu_speed import default_cpu_speed_mode

    bf16, _ = load_base(ModelSpec(base=str(moderate_dir), dtype="bf16", device="cpu"))
    fp32, _ = load_base(ModelSpec(base=str(moderate_dir), dtype="fp32", device="cpu"))
    assert default_cpu_speed_mode(bf16) == "packed"
    assert default_cpu_speed_mode(fp32) == "none", "fp32 has no packed path here"
    monkeypatch.setenv("CER_CPU_PACKED", "0")
    assert default_cpu_speed_mode(bf16) == "none", "CER_CPU_PACKED=0 turns it off"
    monkeypatch.delenv("CER_CPU_PACKED")
    lora = get_peft_model(bf16, LoraConfig(r=2, target_modules=["q_proj"]))
    assert default_cpu_speed_mode(lora) == "none", "PEFT reads its layers' weights"
    assert default_cpu_speed_mode(lora.get_base_model()) == "none", "injected LoRA layers"


def test_a_bf16_recognizer_runs_packed_with_the_plain_bf16_answers(moderate_dir, faces):
    from cer_desktop.contracts import Face
    from cer_desktop.recognition.lvlm.recognizer import LVLMRecognizer

    # given the app's recognizer on a bf16 model, and the same model left as loaded
    rec = LVLMRecognizer(ModelSpec(base=str(moderate_dir), dtype="bf16", device="cpu"))
    plain, processor = load_base(ModelSpec(base=str(moderate_dir), dtype="bf16", device="cpu"))
    try:
        crops = [
            Face(i, 5, (0, 0, 224, 224), np.zeros((478, 3), np.float32), aligned=f)
            for i, f in enumerate(faces)
        ]
        # when both name the faces
        preds = rec.predict(crops, RAF_COMPOUND)
        expected = ClosedSetScorer(plain, processor, None, rec.limits).score(faces, RAF_COMPOUND)
        # then the recognizer chose the packed path and its probabilities are the plain ones
        assert rec.cpu_speed == "packed"
        np.testing.assert_allclose([p.probs for p in preds], expected, atol=2e-3)
    finally:
        rec.close()
