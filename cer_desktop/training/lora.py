"""LoRA for `cer train`: which modules get adapters, which are trained in full, the
`LoraConfig`, for every supported architecture (Qwen2-VL, LLaVA-style, SmolVLM...).

The adapted layers are found by the model's structure (`model_parts`): every linear layer of
the language model's decoder layers, i.e. the attention and MLP projections Yu & Lu adapt,
whatever the family calls them (Qwen3.5's linear-attention layers included). The aliases of
`modules_to_save` are still module names (`MODULE_NAMES`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from cer_desktop.training.errors import TrainingError
from cer_desktop.training.model_parts import (
    language_model_layers,
    linear_names,
    vision_tower_layers,
)
from cer_desktop.training.recipe import ALL_LINEAR, MethodArgs

# Names of the parts `modules_to_save` can train in full (recipe aliases -> module names).
VISION_PARTS = ("visual", "vision_tower", "vision_model", "image_encoder")
PROJECTOR_PARTS = ("merger", "multi_modal_projector", "connector", "mm_projector")
MODULE_NAMES = {
    "embeddings": ("embed_tokens", "wte", "word_embeddings"),
    "lm_head": ("lm_head",),
    "projector": PROJECTOR_PARTS,
    "vision_tower": VISION_PARTS,
}


def lora_target_names(model: torch.nn.Module, method: MethodArgs) -> list[str]:
    """Full names of the linear layers that get LoRA.

    Language model: the linear layers inside its decoder layers (`language_model_layers`),
    all of them for `all-linear`, else those whose last name is in `method.lora_target`.
    Vision tower (if `train_vision`): the linear layers inside its blocks. Never a
    projector or the output head: neither is inside those layer lists.
    """
    wanted = set(method.lora_target)
    names = []
    if wanted:
        for name in linear_names(language_model_layers(model)):
            if ALL_LINEAR in wanted or name.rsplit(".", 1)[-1] in wanted:
                names.append(name)
    if method.train_vision:
        names.extend(linear_names(vision_tower_layers(model)))
    return names


def modules_to_save_names(model: torch.nn.Module, aliases: Sequence[str]) -> list[str]:
    """Map recipe aliases (embeddings, lm_head, projector, vision_tower) to module names.

    A module inside another one already listed is dropped (Qwen2-VL's projector, `merger`,
    lives inside its vision tower, `visual`).
    """
    full = [n for n, _ in model.named_modules() if n]
    present = {n.split(".")[-1] for n in full}
    chosen: list[str] = []
    for alias in aliases:
        found = [m for m in MODULE_NAMES.get(alias, ()) if m in present]
        if not found:
            raise TrainingError(f"modules_to_save: this model has no {alias} module")
        chosen.append(found[0])
    out = []
    for name in chosen:
        paths = [n for n in full if n.split(".")[-1] == name]
        nested = any(
            other != name and any(f".{other}." in f".{p}." for p in paths) for other in chosen
        )
        if not nested and name not in out:
            out.append(name)
    return out


def lora_config(model: torch.nn.Module, method: MethodArgs) -> Any:
    """The LoRA configuration of a recipe for `model` (PEFT `LoraConfig`).

    Target modules are given as one regular expression over full module names, so layers of
    the same short name in the vision tower are not caught by accident (Qwen2.5-VL's vision
    MLP also has gate_proj/up_proj/down_proj); PEFT writes it to `adapter_config.json` as it
    is, and loading the adapter on the same base finds the same layers.
    """
    from peft import LoraConfig

    names = lora_target_names(model, method)
    if not names:
        raise TrainingError(
            f"no linear layer of the language model's decoder matches lora_target "
            f"{method.lora_target} in this model (`all-linear` takes every one)"
        )
    return LoraConfig(
        r=method.lora_rank,
        lora_alpha=method.lora_alpha,
        lora_dropout=method.lora_dropout,
        target_modules=_compact_regex(names),
        modules_to_save=modules_to_save_names(model, method.modules_to_save) or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _compact_regex(names: Sequence[str]) -> str:
    """One anchored regex for `names`, with layer indices generalised to \\d+."""
    pats = sorted({re.sub(r"\\\.\d+\\\.", r"\\.\\d+\\.", re.escape(n)) for n in names})
    return "^(" + "|".join(pats) + ")$"
