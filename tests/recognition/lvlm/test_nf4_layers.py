"""4-bit NF4 around the layers bitsandbytes cannot pack: Qwen3.5's per-value-head projections.

bitsandbytes 0.50's CPU kernel packs 4-bit weights in blocks of 32 output rows; Qwen3.5's
`in_proj_a`/`in_proj_b` have one row per value head (4 in the tiny model, 16 in the 2B), and
scoring a plain NF4 load stopped on `AssertionError: N must be divisible by block_n`. Those
layers now stay unquantised: the NF4 model scores, exactly as its own one-label reference
(QLoRA on it: `tests/training/test_families_training.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.quant_layers import nf4_skip_modules, nf4_unpackable_linears


@pytest.fixture(scope="module")
def tiny_qwen35(tmp_path_factory) -> Path:
    from cer_desktop.testing.families import FAMILIES

    return FAMILIES["qwen3_5"].build_tiny(tmp_path_factory.mktemp("qwen35") / "base")


def test_the_unpackable_layers_are_exactly_those_bitsandbytes_fails_on():
    import bitsandbytes as bnb

    shapes = {"fits": (128, 96), "rows16": (64, 16), "rows40": (64, 40), "in96": (96, 64)}
    model = torch.nn.ModuleDict({k: torch.nn.Linear(*s) for k, s in shapes.items()})
    # the rule says which layers bitsandbytes' CPU 4-bit inference cannot run ...
    assert nf4_unpackable_linears(model) == ["rows16", "rows40", "in96"]
    # ... and bitsandbytes agrees, where its packed CPU kernel is used (AVX512-BF16)
    for name, (k, n) in shapes.items():
        q = bnb.nn.Linear4bit(k, n, compute_dtype=torch.bfloat16, quant_type="nf4")
        q.load_state_dict(model[name].state_dict())
        q = q.to("cpu").eval()  # quantises the weight to NF4
        if not q.support_avx512bf16_for_cpu:
            pytest.skip("this CPU runs bitsandbytes' unpacked 4-bit path (no AVX512-BF16)")
        try:
            with torch.no_grad():
                q(torch.randn(2, k))
            failed = False
        except (AssertionError, RuntimeError):
            failed = True
        assert failed == (name != "fits"), name


def test_in_the_real_qwen35_2b_shape_only_the_value_head_projections_are_skipped():
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    from cer_desktop.testing.families.qwen3_5 import SHAPES

    shape = SHAPES["qwen3.5-2b"]
    config = Qwen3_5Config(
        text_config={**shape["text"], "vocab_size": shape["vocab_size"]},
        vision_config={**shape["vision"], "out_hidden_size": shape["text"]["hidden_size"]},
    )
    with torch.device("meta"):  # real dimensions, no weights
        model = Qwen3_5ForConditionalGeneration(config)
    odd = nf4_unpackable_linears(model)
    kinds = config.text_config.layer_types
    linear_layers = [i for i, k in enumerate(kinds) if k != "full_attention"]
    assert len(linear_layers) == 18, kinds
    want = {
        f"model.language_model.layers.{i}.linear_attn.in_proj_{x}"
        for i in linear_layers
        for x in "ab"
    }
    assert set(odd) == want, sorted(set(odd) ^ want)[:4]
    assert model.get_submodule(odd[0]).out_features == 16


def test_a_family_whose_layers_all_fit_keeps_transformers_default_skips(tmp_path):
    from cer_desktop.testing.families import FAMILIES

    folder = FAMILIES["qwen3_vl"].build_tiny(tmp_path / "q3vl")
    assert nf4_skip_modules(str(folder)) is None


def test_the_nf4_qwen35_scores_exactly_as_its_reference(tiny_qwen35):
    from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    # given the tiny Qwen3.5 loaded as the app loads a 4-bit NF4 model
    model, processor = load_base(ModelSpec(base=str(tiny_qwen35), quant="nf4", device="cpu"))
    kinds = {n: type(m).__name__ for n, m in model.named_modules()}
    four_bit = [n for n, k in kinds.items() if k == "Linear4bit"]
    assert any(n.endswith("linear_attn.in_proj_qkv") for n in four_bit), four_bit[:5]
    assert any(n.endswith("self_attn.q_proj") for n in four_bit), four_bit[:5]
    kept = [n for n in kinds if n.endswith(("in_proj_a", "in_proj_b"))]
    assert kept and all(kinds[n] == "Linear" for n in kept), {n: kinds[n] for n in kept}
    assert kinds["lm_head"] == "Linear", "the output head stays unquantised, as by default"
    # when it scores faces (the call that raised bitsandbytes' AssertionError before)
    rng = np.random.default_rng(5)
    faces = [rng.integers(0, 256, (56, 56, 3), dtype=np.uint8) for _ in range(2)]
    scorer = ClosedSetScorer(model, processor)
    ll = scorer.log_likelihoods(faces, RAF_COMPOUND)
    # then the scores are finite, not flat, and equal its one-label-at-a-time reference
    assert scorer.path.startswith("two-pass"), scorer.path
    assert np.isfinite(ll).all() and np.ptp(ll) > 1e-3
    ref = reference_log_likelihoods(model, processor, faces, RAF_COMPOUND)
    np.testing.assert_allclose(ll, ref, atol=1e-4, rtol=0)
