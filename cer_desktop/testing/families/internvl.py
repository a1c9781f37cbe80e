"""InternVL3.5 (`internvl`, native in transformers): InternViT tiles, pixel unshuffle, Qwen3.

Built from transformers' own classes (`InternVLConfig` over a `qwen3` text config,
`InternVLForConditionalGeneration`, `InternVLProcessor` with `GotOcr2ImageProcessor` and
`InternVLVideoProcessor`). Image scheme: `<img>` + `<IMG_CONTEXT>` x image_seq_length per tile
+ `</img>`; a square 224-px face is one 448-px tile (the aspect-ratio grid picks 1 x 1, no
thumbnail): 256 image tokens on the real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import INIT_STD, family_tokenizer, finish, save

# InternVL-hf's chat template (Qwen turns; an image renders as "<IMG_CONTEXT>\n", which the
# processor expands to <img> + image tokens + </img>), modelled on the -hf checkpoints'.
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)
INTERNVL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
]

# InternVL3.5-1B: InternViT-300M (448 px, patch 14, 24 layers, width 1,024) + Qwen3-0.6B
# (28 layers, width 1,024, 16 heads, 8 KV heads, head_dim 128, MLP 3,072, vocabulary 151,936,
# tied embeddings). Sources: the InternVL3.5 report (arXiv 2508.18265, Table 1: 1B = InternViT-
# 300M + Qwen3-0.6B), Qwen3-0.6B's config.json, transformers' `InternVLVisionConfig` defaults
# (which are InternViT-300M's) and `InternVLConfig` (256 tokens a tile, downsample 0.5).
SHAPES: dict[str, dict[str, Any]] = {
    "internvl3.5-1b": {
        "text_config": {
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        "vision_config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": [448, 448],
            "patch_size": [14, 14],
        },
        "image_seq_length": 256,
    },
}


def internvl_parts(overrides: dict[str, Any] | None = None) -> tuple[Any, Any, dict[str, int]]:
    """The config, processor and special-token ids: build and save a tiny InternVL (Qwen3 decoder, 56-px tiles = 4 image tokens)."""
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    over = dict(overrides or {})
    tokenizer, ids = family_tokenizer(
        INTERNVL_SPECIAL,
        INTERNVL_CHAT_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
    text: dict[str, Any] = {
        "model_type": "qwen3",
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    text.update(over.pop("text_config", {}))
    text["vocab_size"] = max(text["vocab_size"], len(tokenizer))
    # a top-level tie_word_embeddings (the benchmark unties the output layer) wins
    text["tie_word_embeddings"] = bool(over.pop("tie_word_embeddings", text["tie_word_embeddings"]))
    vision: dict[str, Any] = {
        # 64 wide: bitsandbytes' 4-bit CPU kernels pack inputs in blocks of 64
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": [56, 56],
        "patch_size": [14, 14],
    }
    vision.update(over.pop("vision_config", {}))
    side = int(vision["image_size"][0])
    seq = int(over.pop("image_seq_length", (side // vision["patch_size"][0]) ** 2 // 4))
    config = InternVLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=seq,
        downsample_ratio=0.5,
        tie_word_embeddings=bool(text["tie_word_embeddings"]),
        **over,
    )
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(
            size={"height": side, "width": side}, crop_to_patches=True, max_patches=12
        ),
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(),
        image_seq_length=seq,
        chat_template=INTERNVL_CHAT_TEMPLATE,
    )
    return config, processor, ids


def build_tiny_internvl(
    folder: str | Path,
    *,
    seed: int = 0,
    init_std: float | None = INIT_STD,
    **overrides: Any,
) -> Path:
    """Build and save it with random weights; returns the folder.

    `overrides` (`SHAPES[name]` as keyword arguments) give real dimensions (`internvl_parts`).
    """
    import torch
    from transformers import InternVLForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, processor, ids = internvl_parts(overrides)
    torch.manual_seed(seed)
    model = finish(InternVLForConditionalGeneration(config), init_std, seed)
    return save(folder, model, processor, ids["<|im_end|>"], ids["<|endoftext|>"])


FAMILY = Family(
    model_type="internvl",
    name="InternVL3.5",
    build_tiny=build_tiny_internvl,
    shapes=SHAPES,
    tokenizer_note=(
        "byte-level BPE trained in the test with InternVL's special tokens (<img>, </img>, "
        "<IMG_CONTEXT>) and a Qwen-turn chat template; the real model uses Qwen3's tokenizer, "
        "whose 151,643 byte-level tokens are Qwen2's (the GGUF vocabulary already fetched), "
        "with InternVL's added tokens at ids not recorded here: not used"
    ),
    full_support=False,
    notes=(
        "Qwen3 decoder with 1-D rope: single pass + prompt cache; trains, QLoRA, NF4 and "
        "export tested; serving by vLLM not tried. 256 image tokens per face (one 448-px tile)"
    ),
)
