"""Qwen3-VL and Qwen3.5 through training: stage 1 -> stage 2, QLoRA on NF4, export --merge.

The tiny Qwen3-VL of the family registry (its own classes: DeepStack vision tower, q/k-norm
decoder) trains two LoRA steps per stage on the synthetic set, the merged export loads back
and scores like base + adapter, and the 4-bit NF4 base trains and scores on the CPU. The tiny
Qwen3.5 (gated-DeltaNet layers) does the same: LoRA on its linear-attention projections,
NF4 around the projections bitsandbytes cannot pack (`quant_layers`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SIZE, recipe_dict

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
from cer_desktop.recognition.lvlm.loading import load_adapter, load_base
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec
from cer_desktop.training.recipe import recipe_from_dict
from cer_desktop.training.trainer import train

# Qwen3.5 too: its linear-attention layers' LoRA (found by structure) must merge and reload
FULL_FAMILIES = ("qwen3_vl", "qwen3_5")


@pytest.fixture(scope="module", params=FULL_FAMILIES)
def family_base(request, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cer_desktop.testing.families import FAMILIES

    folder = tmp_path_factory.mktemp("family_train") / request.param
    return FAMILIES[request.param].build_tiny(folder, face_pixels=SIZE * SIZE)  # type: ignore[call-arg]


def _faces(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


def test_stage1_stage2_and_merged_export_load_back(family_base: Path, synth: Path, tmp_path: Path):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from cer_desktop.recognition.lvlm import export

    # given stage 1 on the basic set
    s1 = train(recipe_from_dict(recipe_dict(family_base, synth / "basic", tmp_path / "s1")))
    saved = load_file(str(s1.adapter_dir / "adapter_model.safetensors"))
    assert saved and all("vision" not in k and "visual" not in k for k in saved), (
        "LoRA sits on the language model only by default"
    )
    assert any(".language_model." in k for k in saved), sorted(saved)[:5]
    if "qwen3_5" in str(family_base):  # the gated-DeltaNet projections are adapted too
        assert any(".linear_attn.in_proj_qkv." in k for k in saved), sorted(saved)[:5]
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["start"] = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}

    # when stage 2 continues it on the compound set
    d = recipe_dict(
        family_base, synth / "compound", tmp_path / "s2", model={"adapter": str(s1.adapter_dir)}
    )
    s2 = train(recipe_from_dict(d), model_hook=hook)
    # then stage 2 started from stage 1's weights and moved on
    for k, v in saved.items():
        assert torch.equal(seen["start"][k], v), f"{k} did not start from stage 1"
    final = load_file(str(s2.adapter_dir / "adapter_model.safetensors"))
    assert any(not torch.equal(final[k], saved[k]) for k in saved), "stage 2 did not train"

    # and `cer export --merge` writes a plain model that loads back and scores as base + adapter
    out = tmp_path / "merged"
    parser = argparse.ArgumentParser()
    export.register(parser.add_subparsers())
    args = parser.parse_args(["export", "--merge", str(s2.adapter_dir), "-o", str(out)])
    assert args.func(args) == 0
    assert not (out / "adapter_config.json").exists()
    faces = _faces(2)
    limits = ImageLimits.for_crop(SIZE)
    merged, processor = load_base(ModelSpec(base=str(out), dtype="fp32"))
    base, _ = load_base(ModelSpec(base=str(family_base), dtype="fp32"))
    assert type(merged) is type(base), type(merged).__name__
    with_adapter = load_adapter(base, str(s2.adapter_dir))
    a = ClosedSetScorer(merged, processor, None, limits).log_likelihoods(faces, RAF_COMPOUND)
    b = ClosedSetScorer(with_adapter, processor, None, limits).log_likelihoods(faces, RAF_COMPOUND)
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def test_nf4_base_trains_and_scores_on_the_cpu(family_base: Path, synth: Path, tmp_path: Path):
    import bitsandbytes as bnb

    # given the family's tiny model loaded in 4-bit NF4 on the CPU
    model, processor = load_base(ModelSpec(base=str(family_base), quant="nf4", device="cpu"))
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and layers[0].weight.quant_state.quant_type == "nf4"
    # when it scores, then it agrees with its own one-label-at-a-time reference
    faces, limits = _faces(2), ImageLimits.for_crop(SIZE)
    ll = ClosedSetScorer(model, processor, None, limits).log_likelihoods(faces, RAF_COMPOUND)
    ref = reference_log_likelihoods(model, processor, faces, RAF_COMPOUND, None, limits)
    np.testing.assert_allclose(ll, ref, atol=1e-4, rtol=0)
    # and QLoRA on that 4-bit base trains only the LoRA weights
    seen: dict = {}

    def hook(m: torch.nn.Module) -> None:
        seen["model"] = m
        seen["before"] = {n: p.detach().clone() for n, p in m.named_parameters()}

    d = recipe_dict(
        family_base, synth / "basic", tmp_path / "q", model={"quant": "nf4"}, train={"max_steps": 1}
    )
    train(recipe_from_dict(d), model_hook=hook)
    after = dict(seen["model"].named_parameters())
    changed = [n for n, t in seen["before"].items() if not torch.equal(t, after[n].detach())]
    assert changed and all("lora_" in n for n in changed), changed
    if "qwen3_5" in str(family_base):  # LoRA on the value-head projections NF4 left alone
        assert any("in_proj_b.lora_B" in n for n in changed), changed
