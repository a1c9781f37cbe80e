"""Where a vision-language model's language model and vision tower live, found by structure.

No list of family names: the language model is the branch that owns the module
`get_input_embeddings()` returns and holds the decoder-layer list next to it; the vision
tower is what the model's own `get_encoder(modality="image")` returns, and its blocks are
its longest list of layers. Projectors (Qwen's merger and DeepStack mergers, LLaVA's
multi_modal_projector, SmolVLM's connector) and the output head sit outside both lists, so
they are never among the layers found here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cer_desktop.training.errors import TrainingError

# PEFT's own sub-modules inside a LoRA-wrapped linear layer: the wrapper is the target,
# never its parts (the model may already carry an adapter when it is inspected).
_PEFT_PARTS = ("base_layer", "lora_A", "lora_B")


@dataclass(frozen=True)
class LayerList:
    """A list of repeated blocks (`nn.ModuleList`) and its full module name in the model."""

    name: str
    layers: torch.nn.ModuleList


def is_linear(module: torch.nn.Module) -> bool:
    """A dense linear layer, plain or quantised (bitsandbytes' Linear4bit/Linear8bitLt
    subclass `nn.Linear`; other wrappers are recognised by their class name)."""
    if isinstance(module, torch.nn.Linear):
        return True
    base = getattr(module, "base_layer", None)  # a linear layer PEFT already wrapped
    if isinstance(base, torch.nn.Module) and base is not module and is_linear(base):
        return True
    return type(module).__name__ in ("Linear4bit", "Linear8bitLt")


def _holds_linears(block: torch.nn.Module) -> bool:
    return any(is_linear(m) for m in block.modules())


def _layer_lists(owner: torch.nn.Module, prefix: str, *, direct: bool) -> list[LayerList]:
    """The non-empty module lists of blocks with linear layers under `owner`."""
    items = owner.named_children() if direct else owner.named_modules()
    found = []
    for name, child in items:
        if isinstance(child, torch.nn.ModuleList) and len(child) > 0:
            if all(_holds_linears(block) for block in child):
                found.append(LayerList(".".join(p for p in (prefix, name) if p), child))
    return found


def _name_of(model: torch.nn.Module, module: torch.nn.Module) -> str | None:
    return next((n for n, m in model.named_modules() if m is module), None)


def language_model_layers(model: torch.nn.Module) -> LayerList:
    """The language model's decoder layers, found from the input embeddings.

    Walking up from the module that owns the input embeddings, the first ancestor that
    directly holds a list of blocks with linear layers is the language model (Qwen-VL's
    `model.language_model`, SmolVLM's `model.text_model`...); its list is the decoder. The
    vision tower's blocks live in another branch, so they are never found first.
    """
    get = getattr(model, "get_input_embeddings", None)
    embeddings = get() if callable(get) else None
    where = _name_of(model, embeddings) if embeddings is not None else None
    if where is None:
        raise TrainingError(
            f"{type(model).__name__}: no input embeddings found, so no language model to adapt"
        )
    parts = where.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        owner_name = ".".join(parts[:depth])
        owner = model.get_submodule(owner_name)
        lists = _layer_lists(owner, owner_name, direct=True)
        if lists:
            # a decoder with a second list beside its layers: the longest is the decoder
            return max(lists, key=lambda x: len(x.layers))
    raise TrainingError(
        f"{type(model).__name__}: no list of decoder layers next to the input embeddings "
        f"({where}); cannot tell which linear layers belong to the language model"
    )


def vision_tower_layers(model: torch.nn.Module) -> LayerList:
    """The vision tower's blocks: the longest list of blocks in `get_encoder("image")`.

    Patch embeddings, mergers and projectors are outside that list (Qwen3-VL's DeepStack
    mergers form a shorter list of their own; ties go to the list with more weights).
    """
    get = getattr(model, "get_encoder", None)
    tower = None
    if callable(get):
        try:
            tower = get(modality="image")
        except (TypeError, ValueError):  # an older get_encoder without modalities
            tower = None
    where = _name_of(model, tower) if tower is not None and tower is not model else None
    if tower is None or where is None:
        raise TrainingError(f"{type(model).__name__}: no vision tower found (train_vision)")
    lists = _layer_lists(tower, where, direct=False)
    if not lists:
        raise TrainingError(f"{type(model).__name__}: no list of blocks in its vision tower")

    def size(x: LayerList) -> tuple[int, int]:
        return len(x.layers), sum(p.numel() for p in x.layers.parameters())

    return max(lists, key=size)


def linear_names(blocks: LayerList) -> list[str]:
    """Full names of every linear layer inside `blocks`, in model order."""
    names = []
    for i, block in enumerate(blocks.layers):
        for sub, module in block.named_modules():
            if not sub or not is_linear(module) or any(p in _PEFT_PARTS for p in sub.split(".")):
                continue
            names.append(f"{blocks.name}.{i}.{sub}")
    return names
