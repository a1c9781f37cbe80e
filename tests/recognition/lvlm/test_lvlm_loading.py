"""Loading: 4-bit NF4 on the CPU, adapters that fit (and change scores) or are refused, missing models."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from cer_desktop.contracts import RecognizerError
from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
from cer_desktop.recognition.lvlm.loading import (
    AdapterMismatchError,
    ModelNotFoundError,
    check_adapter_fits,
    load_adapter,
    load_base,
    quantization_config,
    resolve_dtype,
)
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec, SpecError
from cer_desktop.testing.tiny_models import build_tiny_qwen2vl, save_random_lora


@pytest.fixture(scope="module")
def adapter_dir(qwen_dir, tmp_path_factory):
    return save_random_lora(qwen_dir, tmp_path_factory.mktemp("adapters") / "lora")


@pytest.fixture(scope="module")
def wide_adapter_dir(tmp_path_factory):
    """An adapter for a Qwen2-VL with a different hidden size (128 instead of 64)."""
    root = tmp_path_factory.mktemp("wide")
    wide = build_tiny_qwen2vl(root / "wide_base", hidden_size=128, intermediate_size=256)
    return save_random_lora(wide, root / "wide_lora")


def test_nf4_quantisation_config_is_4bit_normal_float_with_double_quantisation():
    import torch

    q = quantization_config("nf4", torch.float32)
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.float32
    assert quantization_config("none") is None
    assert quantization_config("int8").load_in_8bit


def test_nf4_model_loads_and_scores_on_the_cpu(qwen_dir, qwen_loaded, faces):
    import bitsandbytes as bnb

    # given the tiny Qwen2-VL loaded in 4-bit NF4 on the CPU
    model, processor = load_base(ModelSpec(base=str(qwen_dir), quant="nf4", device="cpu"))
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "linear layers should be 4-bit"
    assert layers[0].weight.quant_state.quant_type == "nf4"
    full, _ = qwen_loaded
    assert model.get_memory_footprint() < full.get_memory_footprint()
    # when it scores faces, then it agrees with its own plain reference
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    probs = scorer.score(faces[:1], RAF_COMPOUND)
    ref = reference_log_likelihoods(model, processor, faces[:1], RAF_COMPOUND, None, ImageLimits())
    e = np.exp(ref - ref.max())
    np.testing.assert_allclose(probs, e / e.sum(), atol=1e-4)


def test_auto_dtype_on_the_cpu_is_bf16_only_where_the_cpu_has_it_natively(monkeypatch):
    import torch

    # given a CPU that multiplies bf16 natively, "auto" picks bf16 (weights and compute)
    monkeypatch.setenv("CER_CPU_BF16", "1")
    assert resolve_dtype("auto", "cpu") == torch.bfloat16
    # given one that would emulate it, fp32
    monkeypatch.setenv("CER_CPU_BF16", "0")
    assert resolve_dtype("auto", "cpu") == torch.float32
    # an explicit dtype is taken as asked, whatever the CPU
    monkeypatch.setenv("CER_CPU_BF16", "1")
    assert resolve_dtype("fp32", "cpu") == torch.float32
    monkeypatch.setenv("CER_CPU_BF16", "0")
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16


@pytest.mark.parametrize("quant", ["none", "nf4"])
def test_bf16_on_the_cpu_scores_like_fp32(qwen_dir, faces, monkeypatch, quant):
    import torch

    # given the tiny Qwen2-VL loaded with "auto" dtype on a CPU with native bf16
    monkeypatch.setenv("CER_CPU_BF16", "1")
    model, processor = load_base(ModelSpec(base=str(qwen_dir), quant=quant, device="cpu"))
    if quant == "none":
        assert model.dtype == torch.bfloat16
    else:  # bitsandbytes computes in the spec's dtype
        import bitsandbytes as bnb

        layer = next(m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
        assert layer.compute_dtype == torch.bfloat16
    # when it scores faces, then its probabilities are those of the same weights computed in
    # fp32, within bf16's precision
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    probs = scorer.score(faces[:2], RAF_COMPOUND)
    monkeypatch.setenv("CER_CPU_BF16", "0")
    full, full_processor = load_base(ModelSpec(base=str(qwen_dir), quant=quant, device="cpu"))
    exact = ClosedSetScorer(full, full_processor, None, ImageLimits()).score(
        faces[:2], RAF_COMPOUND
    )
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(probs, exact, atol=0.03)
    assert (probs.argmax(axis=1) == exact.argmax(axis=1)).all()


def test_adapter_saved_and_loaded_back_changes_the_scores(qwen_dir, adapter_dir, faces):
    model, processor = load_base(ModelSpec(base=str(qwen_dir)))
    before = ClosedSetScorer(model, processor).log_likelihoods(faces[:2], RAF_COMPOUND)
    adapted = load_adapter(model, adapter_dir)
    after = ClosedSetScorer(adapted, processor).log_likelihoods(faces[:2], RAF_COMPOUND)
    assert np.abs(after - before).max() > 0.1, "a LoRA adapter with non-zero B must change scores"
    # and scoring through the PEFT wrapper still equals the plain reference
    ref = reference_log_likelihoods(adapted, processor, faces[:1], RAF_COMPOUND)
    np.testing.assert_allclose(after[:1], ref, atol=1e-4)


def test_merged_adapter_scores_like_the_unmerged_one(qwen_dir, adapter_dir, faces):
    model, processor = load_base(ModelSpec(base=str(qwen_dir)))
    unmerged = ClosedSetScorer(load_adapter(model, adapter_dir), processor).score(
        faces[:1], RAF_COMPOUND
    )
    model2, _ = load_base(ModelSpec(base=str(qwen_dir)))
    merged_model = load_adapter(model2, adapter_dir, merge=True)
    assert not hasattr(merged_model, "peft_config"), "merge should unload the PEFT wrapper"
    merged = ClosedSetScorer(merged_model, processor).score(faces[:1], RAF_COMPOUND)
    np.testing.assert_allclose(merged, unmerged, atol=1e-4)


def test_adapter_for_another_hidden_size_is_refused_naming_both(
    qwen_loaded, qwen_dir, wide_adapter_dir
):
    model, _ = qwen_loaded
    with pytest.raises(AdapterMismatchError) as info:
        check_adapter_fits(model, wide_adapter_dir)
    msg = str(info.value)
    assert "wide_base" in msg and str(qwen_dir) in msg, msg
    assert "shape" in msg


def test_adapter_with_a_different_base_name_only_warns(qwen_loaded, adapter_dir, tmp_path, caplog):
    model, _ = qwen_loaded
    renamed = tmp_path / "renamed"
    shutil.copytree(adapter_dir, renamed)
    cfg = json.loads((renamed / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "someone/Other-VL"
    (renamed / "adapter_config.json").write_text(json.dumps(cfg))
    with caplog.at_level(logging.WARNING):
        warnings = check_adapter_fits(model, renamed)
    assert warnings and "someone/Other-VL" in warnings[0]


def test_folder_without_an_adapter_is_refused(qwen_loaded, tmp_path):
    model, _ = qwen_loaded
    with pytest.raises(AdapterMismatchError, match="not a PEFT adapter"):
        check_adapter_fits(model, tmp_path)


def test_missing_model_folder_names_the_path(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelNotFoundError, match="no_such_model"):
        load_base(ModelSpec(base=str(missing)))


def test_uncached_hub_model_says_how_to_get_it():
    with pytest.raises(ModelNotFoundError) as info:
        load_base(ModelSpec(base="nobody-here/Tiny-VL-does-not-exist"))
    assert "cer models pull nobody-here/Tiny-VL-does-not-exist" in str(info.value)
    assert isinstance(info.value, RecognizerError)


def test_folder_that_is_not_a_model_is_a_named_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RecognizerError, match="cannot load"):
        load_base(ModelSpec(base=str(tmp_path)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base": ""}, "base model"),
        ({"base": "x", "quant": "fp3"}, "quantisation"),
        ({"base": "x", "dtype": "int3"}, "dtype"),
        ({"base": "x", "device": "tpu"}, "device"),
        ({"base": "x", "mode": "guess"}, "mode"),
        ({"base": "x", "threshold": 1.5}, "threshold"),
    ],
)
def test_impossible_specs_are_refused(kwargs, match):
    with pytest.raises(SpecError, match=match):
        ModelSpec(**kwargs)


def test_spec_normalises_aliases():
    spec = ModelSpec(base="x", quant="4bit", dtype="bfloat16")
    assert (spec.quant, spec.dtype, spec.quantized) == ("nf4", "bf16", True)


def test_int8_model_loads_and_scores_on_the_cpu(qwen_dir, faces):
    import bitsandbytes as bnb

    model, processor = load_base(ModelSpec(base=str(qwen_dir), quant="int8", device="cpu"))
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in model.modules()), (
        "layers should be 8-bit"
    )
    probs = ClosedSetScorer(model, processor).score(faces[:1], RAF_COMPOUND)
    assert probs.shape == (1, 11) and abs(probs.sum() - 1.0) < 1e-6


def test_adapter_saved_with_the_older_module_layout_still_fits(qwen_loaded, adapter_dir, tmp_path):
    # given an adapter whose keys use the pre-transformers-5 path "model.layers.N..."
    from safetensors.torch import load_file, save_file

    model, _ = qwen_loaded
    old = tmp_path / "old_layout"
    shutil.copytree(adapter_dir, old)
    tensors = load_file(old / "adapter_model.safetensors")
    renamed = {
        k.replace("model.language_model.layers", "model.layers"): v for k, v in tensors.items()
    }
    assert renamed.keys() != tensors.keys(), "the test must actually rename keys"
    save_file(renamed, old / "adapter_model.safetensors")
    # then its tensors are matched to the same modules and it fits
    assert check_adapter_fits(model, old) == []
