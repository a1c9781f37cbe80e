"""A few training steps on a tiny Qwen2-VL: what changes, what continues, what is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SIZE, recipe_dict

from cer_desktop.labels import RAF_BASIC
from cer_desktop.recognition.lvlm.metadata import read_metadata
from cer_desktop.training import trainer as trainer_mod
from cer_desktop.training.datasets import DatasetError
from cer_desktop.training.recipe import RecipeError, recipe_from_dict
from cer_desktop.training.trainer import train


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_steps_change_the_adapter_and_modules_to_save_and_nothing_else(
    tiny_qwen: Path, synth: Path, tmp_path: Path
) -> None:
    # given a LoRA recipe that also trains the output head and the projector
    d = recipe_dict(
        tiny_qwen,
        synth / "basic",
        tmp_path / "run",
        method={"modules_to_save": ["lm_head", "projector"]},
        dataset={"eval_split": "test"},
    )
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["model"] = model
        seen["before"] = _snapshot(model)
        seen["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}

    # when training two steps
    result = train(recipe_from_dict(d), model_hook=hook)
    after = dict(seen["model"].named_parameters())
    changed = {n for n, t in seen["before"].items() if not torch.equal(t, after[n].detach())}
    # then every changed tensor was trainable, and the trainable ones are LoRA or saved modules
    assert changed, "two steps at lr 1e-2 changed nothing"
    assert changed <= seen["trainable"], f"frozen weights changed: {changed - seen['trainable']}"
    for name in seen["trainable"]:
        assert "lora_" in name or "modules_to_save" in name, f"unexpected trainable {name}"
    assert any("lora_B" in n for n in changed), "LoRA B (zero at init) must move"
    assert any("lm_head" in n and "modules_to_save" in n for n in changed)
    assert any("merger" in n and "modules_to_save" in n for n in changed)
    # LoRA sits on the language model only by default (not the vision tower)
    assert not any("visual.blocks" in n for n in seen["trainable"])
    assert result.steps == 2
    # and the adapter folder carries PEFT's files and the metadata the app reads
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "cer_adapter.json"} <= files
    meta = read_metadata(result.adapter_dir)
    assert meta is not None and meta.labels == RAF_BASIC.labels
    assert meta.crop_size == SIZE and meta.alignment == "none"
    assert meta.recipe["method"]["modules_to_save"] == ["lm_head", "projector"]
    # and the held-out split was scored by the app's scorer right after training
    assert result.evaluation is not None and result.evaluation["split"] == "test"
    assert (tmp_path / "run" / "eval" / "confusion.png").is_file()


def test_stage2_starts_from_the_stage1_weights(
    tiny_qwen: Path, synth: Path, tmp_path: Path
) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    # given a trained stage-1 adapter
    s1 = train(recipe_from_dict(recipe_dict(tiny_qwen, synth / "basic", tmp_path / "s1")))
    saved = load_file(str(s1.adapter_dir / "adapter_model.safetensors"))
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["start"] = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
        seen["trainable"] = [n for n, p in model.named_parameters() if p.requires_grad]

    # when stage 2 continues it on the compound set
    d = recipe_dict(
        tiny_qwen, synth / "compound", tmp_path / "s2", model={"adapter": str(s1.adapter_dir)}
    )
    s2 = train(recipe_from_dict(d), model_hook=hook)
    # then stage 2 began with exactly stage 1's weights, trainable, and moved on from them
    assert seen["start"].keys() == saved.keys()
    for k, v in saved.items():
        assert torch.equal(seen["start"][k], v), f"{k} did not start from stage 1"
    assert seen["trainable"], "the continued adapter must be trainable"
    final = load_file(str(s2.adapter_dir / "adapter_model.safetensors"))
    assert any(not torch.equal(final[k], saved[k]) for k in saved), "stage 2 did not train"
    assert read_metadata(s2.adapter_dir).label_set == "raf_compound"


def test_refused_recipe_stops_before_the_model_loads(
    tiny_qwen: Path, synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("the model must not load for a refused recipe")

    monkeypatch.setattr(trainer_mod, "load_for_training", boom)
    adapter = tmp_path / "old"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    d = recipe_dict(
        tiny_qwen,
        synth / "compound",
        tmp_path / "run",
        model={"adapter": str(adapter), "quant": "nf4"},
        method={"create_new_adapter": True},
    )
    with pytest.raises(RecipeError, match="stacking adapters is refused"):
        train(recipe_from_dict(d))


def test_broken_data_set_stops_before_the_model_loads(
    tiny_qwen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer_mod, "load_for_training", lambda *a: pytest.fail("loaded"))
    root = tmp_path / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 3\n")
    with pytest.raises(DatasetError, match=r"list_patition_label.txt:1: image .* not found"):
        train(recipe_from_dict(recipe_dict(tiny_qwen, root, tmp_path / "run")))


def test_qlora_on_a_4bit_base_trains_on_the_cpu(
    tiny_qwen: Path, synth: Path, tmp_path: Path
) -> None:
    seen: dict = {}

    def hook(model: torch.nn.Module) -> None:
        seen["model"] = model
        seen["before"] = _snapshot(model)

    d = recipe_dict(
        tiny_qwen, synth / "basic", tmp_path / "q", model={"quant": "nf4"}, train={"max_steps": 1}
    )
    train(recipe_from_dict(d), model_hook=hook)
    kinds = {type(m).__name__ for m in seen["model"].modules()}
    assert "Linear4bit" in kinds, f"base not quantised: {sorted(kinds)[:10]}"
    after = dict(seen["model"].named_parameters())
    changed = [n for n, t in seen["before"].items() if not torch.equal(t, after[n].detach())]
    assert changed and all("lora_" in n for n in changed), changed


def test_the_app_aligner_path_through_training_on_real_faces(
    tiny_qwen: Path, tmp_path: Path, astronaut: np.ndarray
) -> None:
    import cv2

    # given real-face photos (the astronaut, rotated and scaled) in a folder per class
    root = tmp_path / "faces"
    for i, (label, angle, scale) in enumerate(
        [("Happiness", -8, 1.0), ("Happiness", 5, 0.9), ("Neutral", 0, 0.95), ("Neutral", 9, 1.05)]
    ):
        m = cv2.getRotationMatrix2D((256, 256), angle, scale)
        img = cv2.warpAffine(astronaut, m, (512, 512), borderMode=cv2.BORDER_REFLECT)
        (root / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / label / f"{i}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    d = recipe_dict(
        tiny_qwen,
        root,
        tmp_path / "run",
        dataset={"format": "folder", "label_set": "raf_basic", "align": "app"},
        train={"max_steps": 1},
    )
    # when training through the app's aligner
    result = train(recipe_from_dict(d))
    # then every face was found, the crops were cached, and the metadata names the template
    from cer_desktop.vision.alignment import TEMPLATE_NAME

    assert result.no_face == 0
    assert len(list((tmp_path / ".crop_cache").rglob("*.png"))) == 4
    assert read_metadata(result.adapter_dir).alignment == TEMPLATE_NAME


def test_a_run_resumes_from_its_newest_checkpoint(
    tiny_qwen: Path, synth: Path, tmp_path: Path
) -> None:
    # given a run that stopped after 2 steps with a checkpoint every step
    d = recipe_dict(tiny_qwen, synth / "basic", tmp_path / "run", train={"save_steps": 1})
    first = train(recipe_from_dict(d))
    assert (tmp_path / "run" / "checkpoint-2").is_dir()
    # when the same recipe asks for 3 steps (at another learning rate: a restart from step 0
    # would log a different loss at step 2, a resumed run keeps the checkpoint's log)
    d["train"]["max_steps"] = 3
    d["train"]["learning_rate"] = 0.2
    second = train(recipe_from_dict(d))

    def loss_at(result, step):  # noqa: ANN001, ANN202
        return [h["loss"] for h in result.log_history if "loss" in h and h["step"] == step]

    # then it continued from step 2
    assert second.steps == 3
    assert loss_at(second, 2) == loss_at(first, 2), "step 2 was trained again: no resume"
    assert len(loss_at(second, 3)) == 1
