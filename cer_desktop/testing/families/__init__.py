"""The registry of model families the app is proven on: `FAMILIES[model_type] -> Family`.

One module per family defines `FAMILY = Family(...)` (see `base.py`): how to build a tiny
model of it from its own transformers classes, its real-dimension benchmark shapes and what
is known about it. `cer doctor`, the tests and `cer bench lvlm --shape` all read this
registry. A family's `build_tiny(folder, **shapes[name])` builds that real-dimension shape.
"""

from __future__ import annotations

from cer_desktop.testing.families import (
    gemma3,
    internvl,
    llava,
    llava_onevision,
    qwen2_vl,
    qwen3_5,
    qwen3_vl,
    smolvlm,
)
from cer_desktop.testing.families.base import Family

__all__ = ["FAMILIES", "Family", "family_of_shape"]

FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        qwen2_vl.FAMILY,
        qwen2_vl.FAMILY_2_5,
        llava.FAMILY,
        qwen3_vl.FAMILY,
        qwen3_5.FAMILY,
        smolvlm.FAMILY,
        gemma3.FAMILY,
        internvl.FAMILY,
        llava_onevision.FAMILY,
    )
}


def family_of_shape(shape: str) -> Family:
    """The family that defines benchmark shape `shape` ("qwen3-vl-2b"); KeyError if none."""
    for family in FAMILIES.values():
        if shape in family.shapes:
            return family
    raise KeyError(shape)
