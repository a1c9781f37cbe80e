"""Recipes: sections or flat keys, typed values, example recipes, and refused recipes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from cer_desktop.training.commands import recipe_help
from cer_desktop.training.recipe import (
    RecipeError,
    load_recipe,
    recipe_from_dict,
    resolve_paths,
    verify_recipe,
)


def _adapter_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    return path


def _ok(tmp_path: Path, **model) -> dict:
    (tmp_path / "data").mkdir(exist_ok=True)
    return {
        "model": {"base": "some/model", **model},
        "dataset": {"root": str(tmp_path / "data")},
        "train": {"output_dir": str(tmp_path / "run")},
    }


def test_sections_and_flat_keys_are_equivalent() -> None:
    nested = recipe_from_dict({"method": {"lora_rank": 4}, "train": {"learning_rate": "1e-3"}})
    flat = recipe_from_dict({"lora_rank": 4, "learning_rate": 1e-3})
    assert nested.method.lora_rank == flat.method.lora_rank == 4
    assert nested.train.learning_rate == flat.train.learning_rate == pytest.approx(1e-3)


def test_unknown_keys_and_bad_types_are_named() -> None:
    with pytest.raises(RecipeError, match="lora_rnak"):
        recipe_from_dict({"lora_rnak": 4})
    with pytest.raises(RecipeError, match=r"train\.epochs.*'three'"):
        recipe_from_dict({"train": {"epochs": "three"}})
    with pytest.raises(RecipeError, match="unknown key method.learning_rate"):
        recipe_from_dict({"method": {"learning_rate": 1.0}})


def test_overrides_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("### model\nmodel:\n  base: m\n### method\nmethod:\n  lora_rank: 8\n")
    r = load_recipe(path, ["method.lora_rank=32", "modules_to_save=[lm_head, projector]"])
    assert r.method.lora_rank == 32
    assert r.method.modules_to_save == ["lm_head", "projector"]


@pytest.mark.parametrize("name", ["stage1_basic.yaml", "stage2_compound.yaml"])
def test_shipped_example_recipes_parse(name: str) -> None:
    text = resources.files("cer_desktop.resources.recipes").joinpath(name)
    with resources.as_file(text) as path:
        r = load_recipe(path)
    assert r.model.quant == "nf4" and r.dataset.format == "rafdb"
    if name.startswith("stage2"):
        assert r.model.adapter and not r.method.create_new_adapter


def test_a_valid_recipe_passes(tmp_path: Path) -> None:
    verify_recipe(recipe_from_dict(_ok(tmp_path)))


def test_new_adapter_on_a_quantised_base_that_has_one_is_refused(tmp_path: Path) -> None:
    # given stage 1's adapter and a stage-2 recipe asking for a NEW adapter on the 4-bit base
    adapter = _adapter_folder(tmp_path / "stage1" / "adapter")
    d = _ok(tmp_path, quant="nf4", adapter=str(adapter))
    d["method"] = {"create_new_adapter": True}
    # when verified (before any model loads), then it is refused with the reason
    with pytest.raises(RecipeError, match="new adapter on a quantised base model.*stacking"):
        verify_recipe(recipe_from_dict(d))


def test_stacking_is_refused_on_a_full_precision_base_too(tmp_path: Path) -> None:
    adapter = _adapter_folder(tmp_path / "a")
    d = _ok(tmp_path, adapter=str(adapter))
    d["method"] = {"create_new_adapter": True}
    with pytest.raises(RecipeError, match="stacking adapters is refused"):
        verify_recipe(recipe_from_dict(d))


def test_an_adapter_given_as_base_is_refused(tmp_path: Path) -> None:
    adapter = _adapter_folder(tmp_path / "adapter")
    with pytest.raises(RecipeError, match="is an adapter folder, not a base model"):
        verify_recipe(recipe_from_dict(_ok(tmp_path, base=str(adapter))))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    d = {
        "model": {"quant": "fp4"},
        "method": {"lora_rank": 0, "modules_to_save": ["vision"]},
        "dataset": {"format": "imagenet", "root": str(tmp_path / "missing")},
        "train": {"learning_rate": 0},
    }
    with pytest.raises(RecipeError) as info:
        verify_recipe(recipe_from_dict(d))
    msg = str(info.value)
    for part in (
        "model.base",
        "model.quant",
        "lora_rank",
        "vision",
        "dataset.format",
        "not a folder",
        "output_dir",
        "learning_rate",
    ):
        assert part in msg, f"{part!r} missing from: {msg}"


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "r.yaml"
    path.write_text("dataset:\n  root: data\ntrain:\n  output_dir: runs/x\n")
    r = resolve_paths(load_recipe(path))
    assert Path(r.dataset.root) == tmp_path / "data"
    assert Path(r.train.output_dir) == tmp_path / "runs" / "x"


def test_help_lists_every_section_with_help_text() -> None:
    text = recipe_help()
    for section in ("model:", "method:", "dataset:", "train:"):
        assert section in text
    assert "create_new_adapter: false  # Start a new adapter" in text
