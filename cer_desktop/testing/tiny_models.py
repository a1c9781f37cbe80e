"""Tiny real vision-language models built from configs, for tests and benchmarks (no downloads).

Each builder takes a small byte-level BPE tokenizer trained in code (`tiny_tokenizers`: the
model family's real special tokens and chat template) or, for Qwen2-VL, the real vocabulary
(`qwen2_vocab`), builds the model from its config with random weights and saves model,
tokenizer and processor with `save_pretrained`, so `load_base(ModelSpec(base=str(folder)))`
loads it exactly as it would load a downloaded model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from cer_desktop.testing.tiny_tokenizers import (
    LLAVA_CHAT_TEMPLATE,
    LLAVA_SPECIAL,
    QWEN2VL_CHAT_TEMPLATE,
    QWEN2VL_SPECIAL,
    _qwen_tokenizer,
    _token_ids,
    train_tokenizer,
)

__all__ = [
    "QWEN2VL_CHAT_TEMPLATE",
    "QWEN2VL_SPECIAL",
    "build_tiny_llava",
    "build_tiny_qwen2_5vl",
    "build_tiny_qwen2vl",
    "save_random_lora",
    "train_tokenizer",
]


def _reinit(model: torch.nn.Module, std: float | None) -> None:
    """Larger random weights (matrices only) so a tiny model's outputs are far from uniform.

    The configs' default (0.02) gives near-uniform next-token distributions, which would let
    a wrong scorer pass a comparison by accident.
    """
    if not std:
        return
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.normal_(0.0, std)


def _mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies over (temporal, height, width) as Qwen does."""
    half = head_dim // 2
    return [half - 2 * (half // 4), half // 4, half // 4]


def _save_qwen(
    folder: Path, model: Any, processor_cls: Any, tokenizer: Any, ids: dict, face_pixels: int
) -> Path:
    """Greedy, stopping at `<|im_end|>`; the processor sized for one face; both saved."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    limits = {"shortest_edge": face_pixels, "longest_edge": face_pixels}
    processor = processor_cls(
        image_processor=Qwen2VLImageProcessor(size=limits),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=getattr(tokenizer, "chat_template", None) or QWEN2VL_CHAT_TEMPLATE,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_qwen2vl(
    folder: str | Path,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 128,
    vision_depth: int = 1,
    vision_embed_dim: int = 64,
    vision_num_heads: int = 2,
    vocab_size: int | None = None,
    tokenizer_vocab: int = 700,
    face_pixels: int = 224 * 224,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    extra_texts: Iterable[str] = (),
    init_std: float | None = None,
    tie_word_embeddings: bool = False,
    vision_mlp_ratio: float = 2,
    tokenizer: Any = None,
) -> Path:
    """Build and save a Qwen2-VL of the given sizes with random weights; returns the folder.

    `init_std` redraws every weight matrix from N(0, init_std) (None keeps the config's init).

    `vocab_size` (model) may exceed the trained tokenizer's vocabulary to give the embedding and
    output layers a realistic shape (Qwen2-VL's is 151936). The image processor's pixel limits
    default to one 224x224 face = 64 visual tokens.

    `tokenizer` (e.g. `qwen2_vocab.qwen2vl_tokenizer()`, Qwen2-VL's real vocabulary) replaces
    the tokenizer trained here; it must carry Qwen2-VL's special tokens and chat template.
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = _qwen_tokenizer(tokenizer_vocab, extra_texts)
    ids = _token_ids(tokenizer, QWEN2VL_SPECIAL)
    n_vocab = max(vocab_size or 0, len(tokenizer))
    section = _mrope_section(hidden_size // num_attention_heads)
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": n_vocab,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": section,
            },
            "tie_word_embeddings": tie_word_embeddings,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": vision_depth,
            "embed_dim": vision_embed_dim,
            "hidden_size": hidden_size,
            "num_heads": vision_num_heads,
            "mlp_ratio": vision_mlp_ratio,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    _reinit(model, init_std)
    # (transformers' `to` is a functools.wraps of Module.to; typeshed's wraps does not bind self)
    model = model.to(dtype).eval()  # type: ignore[arg-type]
    return _save_qwen(folder, model, Qwen2VLProcessor, tokenizer, ids, face_pixels)


def build_tiny_llava(
    folder: str | Path,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 128,
    vision_hidden_size: int = 64,
    vision_layers: int = 2,
    vision_heads: int = 2,
    image_size: int = 56,
    vocab_size: int | None = None,
    tokenizer_vocab: int = 700,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    extra_texts: Iterable[str] = (),
    init_std: float | None = None,
) -> Path:
    """Build and save a LLaVA-style model (CLIP vision tower + Llama) with random weights."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = train_tokenizer(LLAVA_SPECIAL, tokenizer_vocab, extra_texts)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<image>"],
    )
    tokenizer.chat_template = LLAVA_CHAT_TEMPLATE
    ids = _token_ids(tokenizer, LLAVA_SPECIAL)
    n_vocab = max(vocab_size or 0, len(tokenizer))
    config = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": vision_hidden_size,
            "intermediate_size": vision_hidden_size * 2,
            "num_hidden_layers": vision_layers,
            "num_attention_heads": vision_heads,
            "image_size": image_size,
            "patch_size": 14,
            "projection_dim": vision_hidden_size,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": n_vocab,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "max_position_embeddings": 2048,
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
        },
        image_token_index=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    _reinit(model, init_std)
    # (transformers' `to` is a functools.wraps of Module.to; typeshed's wraps does not bind self)
    model = model.to(dtype).eval()  # type: ignore[arg-type]
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.do_sample = False
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_random_lora(
    base_folder: str | Path,
    out_folder: str | Path,
    *,
    r: int = 4,
    target_modules: tuple[str, ...] = ("q_proj", "v_proj"),
    std: float = 0.5,
    seed: int = 1,
    metadata: object | None = None,
) -> Path:
    """Save a PEFT LoRA adapter for the model in `base_folder` with random non-zero weights.

    LoRA's B starts at zero (the adapter would change nothing); here both A and B are random so
    the adapter visibly changes the model's answers. `metadata` (an `AdapterMetadata`) is
    written beside PEFT's files when given.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    out = Path(out_folder)
    model = AutoModelForImageTextToText.from_pretrained(str(base_folder))
    peft_model = get_peft_model(
        model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(target_modules))
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    peft_model.save_pretrained(str(out))
    if metadata is not None:
        metadata.write(out)  # type: ignore[attr-defined]
    return out


def build_tiny_qwen2_5vl(
    folder: str | Path,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 128,
    vision_depth: int = 2,
    vision_hidden_size: int = 64,
    vision_num_heads: int = 2,
    tokenizer_vocab: int = 700,
    face_pixels: int = 224 * 224,
    seed: int = 0,
    init_std: float | None = None,
) -> Path:
    """Build and save a Qwen2.5-VL (windowed vision attention, same chat format as Qwen2-VL)."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _qwen_tokenizer(tokenizer_vocab)
    ids = _token_ids(tokenizer, QWEN2VL_SPECIAL)
    section = _mrope_section(hidden_size // num_attention_heads)
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": section,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": vision_depth,
            "hidden_size": vision_hidden_size,
            "intermediate_size": 2 * vision_hidden_size,
            "num_heads": vision_num_heads,
            "out_hidden_size": hidden_size,
            "fullatt_block_indexes": [vision_depth - 1],
            "window_size": 56,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    _reinit(model, init_std)
    model.eval()
    return _save_qwen(folder, model, Qwen2_5_VLProcessor, tokenizer, ids, face_pixels)
