"""LoRA for `cer train`: which modules get adapters, which are trained in full, the
`LoraConfig`, for every supported architecture (Qwen2-VL, LLaVA-style, SmolVLM...)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from cer_desktop.training.errors import TrainingError
from cer_desktop.training.recipe import MethodArgs

# Where the parts of the supported architectures live (module-name components).
VISION_PARTS = ("visual", "vision_tower", "vision_model", "image_encoder")
PROJECTOR_PARTS = ("merger", "multi_modal_projector", "connector", "mm_projector")
MODULE_NAMES = {
    "embeddings": ("embed_tokens", "wte", "word_embeddings"),
    "lm_head": ("lm_head",),
    "projector": PROJECTOR_PARTS,
    "vision_tower": VISION_PARTS,
}


def _is_linear(module: torch.nn.Module) -> bool:
    if isinstance(module, torch.nn.Linear):
        return True
    # bitsandbytes' Linear4bit/Linear8bitLt subclass nn.Linear; other wrappers by name
    return type(module).__name__ in ("Linear4bit", "Linear8bitLt")


def _parts(name: str) -> list[str]:
    return name.split(".")


def lora_target_names(model: torch.nn.Module, method: MethodArgs) -> list[str]:
    """Full names of the linear layers that get LoRA.

    Language model: layers whose last name is in `method.lora_target`, outside the vision
    tower and projector. Vision tower (if `train_vision`): all its linear layers except the
    projector's. Never the output head.
    """
    targets = set(method.lora_target)
    names = []
    for name, module in model.named_modules():
        if not name or not _is_linear(module):
            continue
        parts = _parts(name)
        if "lm_head" in parts or "base_layer" in parts or "lora_A" in parts or "lora_B" in parts:
            continue
        in_vision = any(p in VISION_PARTS for p in parts)
        in_projector = any(p in PROJECTOR_PARTS for p in parts)
        if in_projector:
            continue
        if in_vision:
            if method.train_vision:
                names.append(name)
        elif parts[-1] in targets:
            names.append(name)
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
    MLP also has gate_proj/up_proj/down_proj).
    """
    from peft import LoraConfig

    names = lora_target_names(model, method)
    if not names:
        raise TrainingError(
            f"no linear layer matches lora_target {method.lora_target} in this model"
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
