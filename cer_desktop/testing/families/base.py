"""The record each model family of the registry fills in (`families/__init__.py` lists them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Family:
    """One model family: how to build a tiny one, its real-dimension shapes, what is known.

    `build_tiny(folder)` writes a tiny model + processor folder from the family's own
    transformers classes and returns it. `shapes` maps a benchmark shape name
    ("qwen3-vl-2b") to real-dimension config overrides, each figure's source documented
    next to it. `full_support` is True when the family is proven in full (scoring, training,
    NF4, export, serving); `notes` says what is not and why.
    """

    model_type: str
    name: str
    build_tiny: Callable[[Path], Path]  # writes a tiny model + processor folder, returns it
    shapes: dict[str, dict[str, Any]]  # real-dimension config overrides per shape name
    tokenizer_note: str
    full_support: bool
    notes: str
