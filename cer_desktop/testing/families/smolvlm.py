"""SmolVLM2 (`smolvlm`): SigLIP tiles, pixel-shuffle connector, a Llama (SmolLM2) decoder.

The tiny model is built from transformers' own classes (`SmolVLMConfig`,
`SmolVLMForConditionalGeneration`, `SmolVLMProcessor` with its image and video processors and
the chat template transformers ships for it), with every dimension shrunk. The image-token
scheme is SmolVLM's: each tile becomes `(image_size / patch_size)^2 / scale_factor^2` `<image>`
tokens between `<fake_token_around_image>` markers, a global tile after `<global-img>` and,
when the image is split, `<row_r_col_c>` tiles before it.

What a 224-px face costs (SmolVLM2-256M/500M: 512-px tiles, patch 16, scale factor 4, so 64
tokens a tile): the released processor first resizes the longest edge to 2048 px (upscaling a
224-px face), then splits it into 4 x 4 tiles of 512 px plus the global one: 17 x 64 = 1,088
image tokens. With splitting off (`encoding.image_kwargs` turns it off when the crop fits one
tile) the face is one 512-px tile: 64 image tokens. A smaller input keeps the pixel shuffle
intact when its side is a multiple of patch_size x scale_factor (64 px): a 256-px tile gives
(256/16)^2 / 16 = 16 tokens, the vision embeddings place its 16 x 16 patches on the 32 x 32
position grid by fraction (as for any image smaller than the tile); the processor's
`image_seq_len` must say 16 and `max_image_size` 256. 224 px is not a multiple of 64 (14 x 14
patches cannot be shuffled by 4). The tests check the mechanism on the tiny model; whether the
released weights stay accurate on 256-px tiles is not measured (they were trained on 512).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import INIT_STD, family_tokenizer, finish, save

# SmolVLM2's special tokens (its tokenizer's added tokens; the real ids are <|endoftext|> 0,
# <|im_start|> 1, <|im_end|> 2, <global-img> 49152, <row_1_col_1> 49153 ... <row_6_col_6>
# 49188, <fake_token_around_image> 49189, <image> 49190, <end_of_utterance> 49279 — the
# tokenizer here is trained in code, so its ids differ).
SMOLVLM_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<global-img>",
    "<fake_token_around_image>",
    "<image>",
    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
]

# Real dimensions for benchmarks (random weights). Sources: the checkpoints' config.json
# (HuggingFaceTB/SmolVLM2-256M-Video-Instruct, -500M-Video-Instruct; as quoted in public
# model-loading code) and the SmolVLM report (arXiv 2504.05299): SigLIP-B/16 at 512 px (93 M),
# pixel shuffle r=4 (64 tokens a tile), SmolLM2-135M / -360M decoders, vocabulary 49,280.
_VISION_512 = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "image_size": 512,
    "patch_size": 16,
}
SHAPES: dict[str, dict[str, Any]] = {
    "smolvlm2-256m": {
        "text_config": {
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "vocab_size": 49280,
            "rope_theta": 100000.0,
        },
        "vision_config": _VISION_512,
        "scale_factor": 4,
        "image_seq_len": 64,
    },
    "smolvlm2-500m": {
        "text_config": {
            "hidden_size": 960,
            "intermediate_size": 2560,
            "num_hidden_layers": 32,
            "num_attention_heads": 15,
            "num_key_value_heads": 5,
            "vocab_size": 49280,
            "rope_theta": 100000.0,
        },
        "vision_config": _VISION_512,
        "scale_factor": 4,
        "image_seq_len": 64,
    },
}


def smolvlm_tokenizer(vocab: int = 700, extra_texts: Iterable[str] = ()) -> Any:
    """A tokenizer trained here with SmolVLM2's special tokens, roles and chat template."""
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    return family_tokenizer(
        SMOLVLM_SPECIAL,
        DEFAULT_CHAT_TEMPLATE,  # SmolVLM2-Instruct's template, as transformers ships it
        vocab=vocab,
        extra_texts=extra_texts,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
    )


def smolvlm_parts(
    overrides: dict[str, Any] | None = None, *, tile: int | None = None, tokenizer_vocab: int = 700
) -> tuple[Any, Any, dict[str, int]]:
    """The config, processor and special-token ids of a SmolVLM2 (tiny unless `overrides`).

    Tiny: a 64-px tile of 16-px patches shuffled by 2 = 4 image tokens a tile. `overrides`
    (a `SHAPES` entry) replaces config values with real dimensions; `tile` is the side of the
    tiles the processor cuts (default: the vision tower's `image_size`; a smaller tile is
    placed on the tower's position grid by fraction).
    """
    from transformers import (
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    over = dict(overrides or {})
    tokenizer, ids = smolvlm_tokenizer(tokenizer_vocab)
    text = {
        "model_type": "llama",
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rope_theta": 100000.0,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "bos_token_id": ids["<|im_start|>"],
        "eos_token_id": ids["<end_of_utterance>"],
        "pad_token_id": ids["<|im_end|>"],
    }
    text.update(over.pop("text_config", {}))
    text["vocab_size"] = max(text["vocab_size"], len(tokenizer))
    vision: dict[str, Any] = {
        # 64 wide: bitsandbytes' 4-bit CPU kernels pack inputs in blocks of 64
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 64,
        "patch_size": 16,
    }
    vision.update(over.pop("vision_config", {}))
    scale = int(over.pop("scale_factor", 2))
    side = int(tile or vision["image_size"])
    seq_len = int(over.pop("image_seq_len", (side // vision["patch_size"]) ** 2 // scale**2))
    config = SmolVLMConfig(
        text_config=text,
        vision_config=vision,
        scale_factor=scale,
        image_token_id=ids["<image>"],
        tie_word_embeddings=bool(over.pop("tie_word_embeddings", False)),
        **over,
    )
    # the released processors: longest edge to 4 tiles, tiles of `image_size` (512 px there)
    image_processor = SmolVLMImageProcessor(
        size={"longest_edge": 4 * side}, max_image_size={"longest_edge": side}
    )
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=seq_len,
        chat_template=tokenizer.chat_template,
    )
    return config, processor, ids


def build_tiny_smolvlm(
    folder: str | Path,
    *,
    tile: int | None = None,
    seed: int = 0,
    init_std: float | None = INIT_STD,
    **overrides: Any,
) -> Path:
    """Build and save a SmolVLM2 with random weights; returns the folder.

    `overrides` (`SHAPES[name]` as keyword arguments) give real dimensions (`smolvlm_parts`).
    """
    import torch
    from transformers import SmolVLMForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, processor, ids = smolvlm_parts(overrides, tile=tile)
    torch.manual_seed(seed)
    model = finish(SmolVLMForConditionalGeneration(config), init_std, seed)
    return save(folder, model, processor, ids["<end_of_utterance>"], ids["<|im_end|>"])


FAMILY = Family(
    model_type="smolvlm",
    name="SmolVLM2",
    build_tiny=build_tiny_smolvlm,
    shapes=SHAPES,
    tokenizer_note=(
        "byte-level BPE trained in the test on the prompts and labels, with SmolVLM2's special "
        "tokens (<end_of_utterance>, <image>, <fake_token_around_image>, <global-img>, "
        "<row_r_col_c>) and the chat template transformers ships for SmolVLM; SmolVLM2's real "
        "49,280-token vocabulary (SmolLM2's) is in no package on PyPI that this project can use"
    ),
    # scored, trained, NF4, exported and served by vLLM (tests/recognition/remote/
    # test_remote_vllm_smolvlm.py), all on the tiny model
    full_support=True,
    notes=(
        "Llama decoder with 1-D rope: single pass + prompt cache. A 224-px face costs 1,088 "
        "image tokens with the released processor's splitting and 64 as one 512-px tile "
        "(splitting is turned off for crops that fit one tile); 256-px tiles (16 tokens) keep "
        "the pixel shuffle intact, 224 px does not. Served by vLLM 0.32 (CPU): remote = local "
        "(tested), given num2words in the server venv and the one-tile processor config "
        "`cer export` saves (docs/families-smolvlm-gemma3-internvl-onevision.md)."
    ),
)
