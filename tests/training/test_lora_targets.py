"""LoRA targets found by structure, for every family of the registry's tiny models.

The targets must be exactly the linear layers of the language model's decoder (transformers'
own `get_decoder()` is the independent witness), none in the vision tower, the projector or
the output head; equal to what the old name list chose where that list saw every projection
(all families but Qwen3.5, whose linear-attention layers it missed); and the `LoraConfig`
written from them must put LoRA on exactly those layers, again after a save and reload.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from cer_desktop.testing.families import FAMILIES
from cer_desktop.training.errors import TrainingError
from cer_desktop.training.lora import lora_config, lora_target_names
from cer_desktop.training.model_parts import (
    is_linear,
    language_model_layers,
    vision_tower_layers,
)
from cer_desktop.training.recipe import MethodArgs, RecipeError, verify_recipe

# The name list the structural rule replaced (lora.py before #23's item 4), kept here as the
# reference it must agree with.
OLD_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
OLD_VISION = ("visual", "vision_tower", "vision_model", "image_encoder")
OLD_PROJECTOR = ("merger", "multi_modal_projector", "connector", "mm_projector")


def _old_rule(model: torch.nn.Module) -> set[str]:
    out = set()
    for name, module in model.named_modules():
        parts = name.split(".")
        if not name or not isinstance(module, torch.nn.Linear) or "lm_head" in parts:
            continue
        if any(p in OLD_VISION or p in OLD_PROJECTOR for p in parts):
            continue
        if parts[-1] in OLD_NAMES:
            out.add(name)
    return out


def _linears_under(model: torch.nn.Module, part: torch.nn.Module) -> set[str]:
    prefix = next(n for n, m in model.named_modules() if m is part)
    return {
        f"{prefix}.{n}" if prefix else n
        for n, m in part.named_modules()
        if n and isinstance(m, torch.nn.Linear)
    }


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def tiny(request, tmp_path_factory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("lora_targets") / request.param
    return request.param, FAMILIES[request.param].build_tiny(folder)


def _load(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)


def test_targets_are_the_decoders_linear_layers_and_nothing_else(tiny):
    name, folder = tiny
    model = _load(folder)
    # when the targets are found by structure with the default recipe
    targets = set(lora_target_names(model, MethodArgs()))
    # then they are every linear layer of the decoder transformers itself names
    decoder = _linears_under(model, model.get_decoder())
    assert targets == decoder, (name, sorted(targets ^ decoder)[:6])
    # and none is in the vision tower, the projector or the head
    vision = _linears_under(model, model.get_encoder(modality="image"))
    head = model.get_output_embeddings()
    assert not targets & vision, sorted(targets & vision)[:3]
    assert all(model.get_submodule(t) is not head for t in targets)
    rest = {n for n, m in model.named_modules() if n and is_linear(m)} - targets - vision
    assert rest, "the head (and a projector, where the model has one) stay untouched"
    assert all(not n.startswith(language_model_layers(model).name + ".") for n in rest)


def test_targets_equal_the_old_name_list_except_qwen35_linear_attention(tiny):
    name, folder = tiny
    model = _load(folder)
    targets = set(lora_target_names(model, MethodArgs()))
    old = _old_rule(model)
    if name != "qwen3_5":
        assert targets == old, (name, sorted(targets ^ old))
        return
    # Qwen3.5: the old list saw the full-attention layers and every MLP, but not the
    # gated-DeltaNet projections of its linear-attention layers; those are added now
    kinds = model.config.text_config.layer_types
    linear_layers = {i for i, k in enumerate(kinds) if k == "linear_attention"}
    assert linear_layers and old < targets
    added = targets - old
    layer_of = {int(re.search(r"\.layers\.(\d+)\.", n).group(1)) for n in added}
    assert layer_of == linear_layers, (sorted(added), kinds)
    assert {n.split(".")[-2] for n in added} == {"linear_attn"}, sorted(added)
    assert {n.split(".")[-1] for n in added} == {
        "in_proj_qkv",
        "in_proj_z",
        "in_proj_b",
        "in_proj_a",
        "out_proj",
    }


def test_the_lora_config_puts_lora_on_exactly_the_targets_and_loads_back(tiny, tmp_path):
    from peft import PeftModel, get_peft_model
    from peft.tuners.lora import LoraLayer

    name, folder = tiny
    model = _load(folder)
    method = MethodArgs(lora_rank=2, lora_alpha=4)
    targets = set(lora_target_names(model, method))
    # when PEFT applies the config (its target_modules is what adapter_config.json holds)
    peft_model = get_peft_model(model, lora_config(model, method))

    def adapted(m: torch.nn.Module) -> set[str]:
        found = {n for n, x in m.named_modules() if isinstance(x, LoraLayer)}
        return {n.removeprefix("base_model.model.") for n in found}

    assert adapted(peft_model) == targets, name
    # then the saved adapter loads back onto a fresh base on exactly the same layers
    peft_model.save_pretrained(tmp_path / "adapter")
    again = PeftModel.from_pretrained(_load(folder), str(tmp_path / "adapter"))
    assert adapted(again) == targets, name


def test_names_restrict_and_vision_lora_stays_in_the_towers_blocks(tiny):
    name, folder = tiny
    model = _load(folder)
    # a name list keeps only those layers of the decoder
    only_v = lora_target_names(model, MethodArgs(lora_target=["v_proj"]))
    assert only_v and all(n.endswith(".v_proj") for n in only_v)
    assert all(n.startswith(language_model_layers(model).name + ".") for n in only_v), only_v
    # train_vision adds the vision blocks' linear layers, not the projector/mergers
    both = set(lora_target_names(model, MethodArgs(train_vision=True)))
    vision = both - set(lora_target_names(model, MethodArgs()))
    tower = _linears_under(model, model.get_encoder(modality="image"))
    blocks = vision_tower_layers(model).name + "."
    assert vision and vision <= tower and all(n.startswith(blocks) for n in vision), name
    assert not any(p in OLD_PROJECTOR for n in vision for p in n.split(".")), sorted(vision)


def test_a_model_without_a_decoder_layer_list_is_refused_by_name():
    class Odd(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(4, 4)
            self.proj = torch.nn.Linear(4, 4)

        def get_input_embeddings(self) -> torch.nn.Module:
            return self.embed

    with pytest.raises(TrainingError, match="no list of decoder layers"):
        lora_target_names(Odd(), MethodArgs())


def test_all_linear_goes_alone_in_the_recipe(tmp_path):
    from cer_desktop.training.recipe import recipe_from_dict

    d = {
        "model": {"base": str(tmp_path)},
        "method": {"lora_target": ["all-linear", "q_proj"]},
        "dataset": {"root": str(tmp_path)},
        "train": {"output_dir": str(tmp_path / "out")},
    }
    with pytest.raises(RecipeError, match="all-linear alone"):
        verify_recipe(recipe_from_dict(d))
