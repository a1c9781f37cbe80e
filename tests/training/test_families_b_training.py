"""`cer train` stage 1 -> stage 2, QLoRA on a 4-bit base, NF4 scoring and `cer export --merge`
for the tiny SmolVLM2, Gemma 3, InternVL3.5 and LLaVA-OneVision (their own classes; LoRA on
the language model, found by structure)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import recipe_dict

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.metadata import read_metadata
from cer_desktop.training.lora import PROJECTOR_PARTS, VISION_PARTS
from cer_desktop.training.recipe import recipe_from_dict
from cer_desktop.training.trainer import train

FAMILIES = ("smolvlm", "gemma3", "internvl", "llava_onevision")


@pytest.fixture(scope="module", params=FAMILIES)
def family_base(request, tmp_path_factory) -> tuple[str, Path]:
    import importlib

    module = importlib.import_module(f"cer_desktop.testing.families.{request.param}")
    return request.param, module.FAMILY.build_tiny(tmp_path_factory.mktemp(request.param) / "base")


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture(scope="module")
def stage2(family_base, synth, tmp_path_factory) -> tuple[Path, dict]:
    """Stage 1 on the basic set, stage 2 continuing it on the compound set (2 steps each)."""
    _, base = family_base
    root = tmp_path_factory.mktemp("runs")
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["model"] = model
        seen["before"] = _snapshot(model)
        seen["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}

    s1 = train(recipe_from_dict(recipe_dict(base, synth / "basic", root / "s1")), model_hook=hook)
    after = dict(seen.pop("model").named_parameters())
    seen["changed"] = {
        n for n, t in seen["before"].items() if not torch.equal(t, after[n].detach())
    }
    d = recipe_dict(base, synth / "compound", root / "s2", model={"adapter": str(s1.adapter_dir)})
    s2 = train(recipe_from_dict(d))
    seen["s1"] = s1.adapter_dir
    return s2.adapter_dir, seen


def test_two_stages_train_lora_on_the_language_model_only(family_base, stage2):
    from safetensors.torch import load_file

    name, _ = family_base
    adapter, seen = stage2
    # stage 1: LoRA on the decoder's linear layers, nothing in the vision tower or projector
    lora = {n for n in seen["trainable"] if "lora_" in n}
    assert lora and lora == seen["trainable"], seen["trainable"] - lora
    assert not any(p in n.split(".") for n in lora for p in (*VISION_PARTS, *PROJECTOR_PARTS))
    assert any("q_proj" in n for n in lora) and any("down_proj" in n for n in lora), name
    assert any("lora_B" in n for n in seen["changed"]), "LoRA B (zero at init) must move"
    assert seen["changed"] <= seen["trainable"], seen["changed"] - seen["trainable"]
    # stage 2 continued stage 1 and moved on from it
    first = load_file(str(seen["s1"] / "adapter_model.safetensors"))
    final = load_file(str(adapter / "adapter_model.safetensors"))
    assert first.keys() == final.keys()
    assert any(not torch.equal(first[k], final[k]) for k in first), "stage 2 did not train"
    meta = read_metadata(adapter)
    assert meta is not None and meta.label_set == "raf_compound"


def test_qlora_on_a_4bit_base_trains(family_base, synth, tmp_path):
    _, base = family_base
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["model"] = model
        seen["before"] = _snapshot(model)

    # given the base loaded in 4-bit NF4 (bitsandbytes, on the CPU)
    d = recipe_dict(
        base, synth / "basic", tmp_path / "q", model={"quant": "nf4"}, train={"max_steps": 1}
    )
    train(recipe_from_dict(d), model_hook=hook)
    # then its decoder's linear layers are 4-bit and only LoRA weights moved
    four_bit = [n for n, m in seen["model"].named_modules() if type(m).__name__ == "Linear4bit"]
    assert any("q_proj" in n for n in four_bit), f"decoder not quantised: {four_bit[:5]}"
    after = dict(seen["model"].named_parameters())
    changed = [n for n, t in seen["before"].items() if not torch.equal(t, after[n].detach())]
    assert changed and all("lora_" in n for n in changed), changed


def test_the_stage2_adapter_merges_into_a_model_that_loads_back(
    family_base, stage2, tmp_path, capsys
):
    from cer_desktop.recognition.lvlm import export
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    name, base = family_base
    adapter, _ = stage2
    out = tmp_path / "merged"
    parser = argparse.ArgumentParser()
    export.register(parser.add_subparsers())
    args = parser.parse_args(["export", "--merge", str(adapter), "-o", str(out)])
    # when merged (export checks, in-process, that the reloaded model scores as base + adapter)
    assert args.func(args) == 0
    assert "scores equal base + adapter" in capsys.readouterr().out
    assert not (out / "adapter_config.json").exists(), "a plain model, no adapter left"
    if name == "smolvlm":  # a server tiles as the saved config says: one tile, as the app
        saved = json.loads((out / "processor_config.json").read_text())
        assert saved["image_processor"]["do_image_splitting"] is False
    # then the folder loads back as the app loads a model, and the adapter changed its scores
    faces = export._test_faces(2, 56)
    scores = []
    for folder in (base, out):
        model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
        scores.append(ClosedSetScorer(model, processor).log_likelihoods(faces, RAF_COMPOUND))
    assert np.abs(scores[0] - scores[1]).max() > 1e-3, "the merged adapter changed nothing"


def test_the_4bit_base_scores_on_the_fast_path(family_base, faces_56):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    # given the base loaded as the app loads a 4-bit NF4 model
    name, base = family_base
    model, processor = load_base(ModelSpec(base=str(base), quant="nf4", device="cpu"))
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    # when scored, it takes the single pass and gives a distribution over the labels
    scorer = ClosedSetScorer(model, processor)
    probs = scorer.score(faces_56, RAF_COMPOUND)
    # (LLaVA-OneVision's template puts the image first: nothing static to cache)
    cached = "" if name == "llava_onevision" else " + prompt cache"
    assert scorer.path == "single-pass" + cached, scorer.path
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.isfinite(probs).all() and np.ptp(probs) > 1e-3


@pytest.fixture(scope="module")
def faces_56() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (56, 56, 3), dtype=np.uint8) for _ in range(2)]
