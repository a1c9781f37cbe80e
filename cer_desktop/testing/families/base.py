"""What every model family in the registry provides: a tiny builder and real-dimension shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Family:
    """One transformers model family the app is proven on.

    `build_tiny` writes a tiny model + processor folder (the family's real classes, dimensions
    shrunk, random weights) and returns it. `shapes` maps a shape name ("qwen3-vl-2b") to the
    real-dimension config overrides for benchmarks, each figure's source documented next to it.
    """

    model_type: str
    name: str
    build_tiny: Callable[[Path], Path]  # writes a tiny model + processor folder, returns it
    shapes: dict[str, dict[str, Any]]  # real-dimension config overrides per shape name
    tokenizer_note: str
    full_support: bool
    notes: str
