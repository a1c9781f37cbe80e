"""LLaVA-OneVision (`llava_onevision`): SigLIP, anyres tiling with unpadding, a Qwen2 decoder.

Built from transformers' own classes (`LlavaOnevisionConfig`,
`LlavaOnevisionForConditionalGeneration`, `LlavaOnevisionProcessor`,
`LlavaOnevisionImageProcessor`, `LlavaOnevisionVideoProcessor`) and the -hf checkpoints' chat
template, which renders every image before the text: no prompt text precedes the image, so
there is no static prefix to cache (as with LLaVA-1.5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import INIT_STD, family_tokenizer, finish, save

# llava-hf/llava-onevision-qwen2-*-ov-hf's chat template (images, then videos, then the text).
ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}"
    "{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\\n' + content['text'] }}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\\n' + content['text'] }}{% endgeneration %}{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ONEVISION_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]

# llava-onevision-qwen2-0.5b-ov: SigLIP-so400m cut to 26 layers at 384 px (729 tokens a tile,
# feature layer -1, strategy "full") + Qwen2-0.5B (24 layers, width 896, 14 heads, 2 KV heads,
# MLP 4,864, vocabulary 151,936, tied). Sources: the LLaVA-OneVision report (arXiv 2408.03326),
# transformers' `LlavaOnevisionConfig` defaults and the -hf conversion's config as quoted in
# public conversion code (26 vision layers, 729 image tokens, anyres_max_9 grid to 2,304 px).
SHAPES: dict[str, dict[str, Any]] = {
    "llava-onevision-0.5b": {
        "text_config": {
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        "vision_config": {
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 26,
            "num_attention_heads": 16,
            "image_size": 384,
            "patch_size": 14,
        },
    },
}


def llava_onevision_parts(
    overrides: dict[str, Any] | None = None,
) -> tuple[Any, Any, dict[str, int]]:
    """The config, processor and special-token ids: build and save a tiny LLaVA-OneVision (28-px SigLIP tiles of 14-px patches, anyres)."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    over = dict(overrides or {})
    tokenizer, ids = family_tokenizer(
        ONEVISION_SPECIAL,
        ONEVISION_CHAT_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
    )
    text: dict[str, Any] = {
        "model_type": "qwen2",
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
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
        "model_type": "siglip_vision_model",
        # 64 wide: bitsandbytes' 4-bit CPU kernels pack inputs in blocks of 64
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
        "vision_use_head": False,
    }
    vision.update(over.pop("vision_config", {}))
    side = int(vision["image_size"])
    # the released grid (multiples of the tile up to 6 x 6), scaled to the tile side
    pinpoints = [[side * a, side * b] for a in range(1, 7) for b in range(1, 7)]
    config = LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        image_grid_pinpoints=pinpoints,
        tie_word_embeddings=bool(text["tie_word_embeddings"]),
        **over,
    )
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size={"height": side, "width": side},
            image_grid_pinpoints=pinpoints,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        ),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(),
        num_image_tokens=(side // int(vision["patch_size"])) ** 2,
        vision_feature_select_strategy="full",
        chat_template=ONEVISION_CHAT_TEMPLATE,
    )
    return config, processor, ids


def build_tiny_llava_onevision(
    folder: str | Path,
    *,
    seed: int = 0,
    init_std: float | None = INIT_STD,
    **overrides: Any,
) -> Path:
    """Build and save it with random weights; returns the folder.

    `overrides` (`SHAPES[name]` as keyword arguments) give real dimensions (`llava_onevision_parts`).
    """
    import torch
    from transformers import LlavaOnevisionForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, processor, ids = llava_onevision_parts(overrides)
    torch.manual_seed(seed)
    model = finish(LlavaOnevisionForConditionalGeneration(config), init_std, seed)
    return save(folder, model, processor, ids["<|im_end|>"], ids["<|endoftext|>"])


FAMILY = Family(
    model_type="llava_onevision",
    name="LLaVA-OneVision",
    build_tiny=build_tiny_llava_onevision,
    shapes=SHAPES,
    tokenizer_note=(
        "byte-level BPE trained in the test with <image>, <video> and Qwen2's turn tokens and "
        "the -hf chat template; the real model uses Qwen2's vocabulary (the GGUF already "
        "fetched), not used here"
    ),
    full_support=False,
    notes=(
        "Qwen2 decoder with 1-D rope, single pass; its chat template puts the image before the "
        "text, so no prompt cache. Trains, QLoRA, NF4 and export tested; serving by vLLM not "
        "tried. 1,485 image tokens per 224-px face (anyres base tile + one crop)"
    ),
)
