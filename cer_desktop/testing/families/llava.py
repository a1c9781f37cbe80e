"""LLaVA-1.5-style models (CLIP vision tower + Llama; llava-hf/llava-1.5-7b-hf)."""

from __future__ import annotations

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.tiny_models import build_tiny_llava

FAMILY = Family(
    model_type="llava",
    name="LLaVA",
    build_tiny=build_tiny_llava,
    shapes={},
    tokenizer_note="a BPE trained on the prompts with LLaVA's special tokens",
    full_support=False,
    notes="its chat template puts the image first: single pass without the prompt cache",
)
