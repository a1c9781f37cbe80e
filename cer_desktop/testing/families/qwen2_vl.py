"""Qwen2-VL and Qwen2.5-VL (Qwen/Qwen2-VL-2B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct).

Their tiny builders live in `tiny_models` (used by many tests before this registry); here
they are registered with their real-dimension shapes.
"""

from __future__ import annotations

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.tiny_models import build_tiny_qwen2_5vl, build_tiny_qwen2vl

# Qwen2-VL-2B-Instruct's config.json; the same figures `cer bench lvlm --shape qwen2-vl-2b`
# has used since before this registry (keyword arguments of `build_tiny_qwen2vl`).
QWEN2VL_SHAPES = {
    "qwen2-vl-2b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vision_embed_dim=1280,
        vision_depth=32,
        vision_num_heads=16,
        vision_mlp_ratio=4,
        vocab_size=151936,
    ),
}

FAMILY = Family(
    model_type="qwen2_vl",
    name="Qwen2-VL",
    build_tiny=build_tiny_qwen2vl,
    shapes=QWEN2VL_SHAPES,
    tokenizer_note="Qwen2's real 151,936-token vocabulary (ggml-vocab-qwen2.gguf) + its 14 added tokens",
    full_support=True,
    notes="the family the project was built on: scored, trained, exported, served",
)

FAMILY_2_5 = Family(
    model_type="qwen2_5_vl",
    name="Qwen2.5-VL",
    build_tiny=build_tiny_qwen2_5vl,
    shapes={},
    tokenizer_note="a BPE trained on the prompts with Qwen2-VL's special tokens",
    full_support=False,
    notes="scored on the fast path (windowed vision attention); no real-dimension shape yet",
)
