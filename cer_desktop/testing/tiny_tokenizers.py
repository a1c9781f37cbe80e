"""Tokenizers for the tiny test models: trained here on the prompts and labels (no downloads).

Byte-level BPE trained with `tokenizers` over the shipped prompts and every label spelling, with
each model family's real special tokens and chat template. (Qwen2-VL's real 151,936-token
vocabulary, for figures where label token counts matter, is in `qwen2_vocab`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Qwen2-VL's own chat template (system prompt added when missing; images as
# <|vision_start|><|image_pad|><|vision_end|>; every turn ends with <|im_end|>).
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2VL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# A LLaVA-1.5-style template ("USER: <image>\n... ASSISTANT: answer</s>"); the answer ends
# with the end-of-sequence token, as llava-hf's fine-tuning recipes do.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
    "{% endif %}{% endfor %}"
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %} "
    "{% elif message['role'] == 'assistant' %}ASSISTANT: "
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
LLAVA_SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]


def _corpus(extra_texts: Iterable[str]) -> list[str]:
    from cer_desktop.recognition.lvlm.prompts import corpus_texts

    base = corpus_texts()
    chat = ["You are a helpful assistant.", "USER:", "ASSISTANT:", "user", "assistant", "system"]
    labels_spaced = [" " + t for t in base if len(t) < 40]  # labels after a space (LLaVA)
    return [*base, *chat, *labels_spaced, *extra_texts] * 2


def train_tokenizer(special_tokens: list[str], vocab_size: int, extra_texts: Iterable[str] = ()):
    """A byte-level BPE tokenizer trained on the prompts and labels (any text still encodes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(extra_texts), trainer=trainer)
    return tok


def _token_ids(tokenizer: Any, tokens: list[str]) -> dict[str, int]:
    """The id of each of `tokens`, each one token of the tokenizer's vocabulary."""
    ids = {}
    for token in tokens:
        i = tokenizer.convert_tokens_to_ids(token)
        if not isinstance(i, int):
            raise ValueError(f"{token!r} is not one token of the tokenizer (got {i!r})")
        ids[token] = i
    return ids


def _qwen_tokenizer(tokenizer_vocab: int, extra_texts: Iterable[str] = ()) -> Any:
    """A tokenizer trained here that carries Qwen2-VL's special tokens and chat template."""
    from transformers import PreTrainedTokenizerFast

    raw = train_tokenizer(QWEN2VL_SPECIAL, tokenizer_vocab, extra_texts)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=QWEN2VL_SPECIAL[1:],
    )
    tokenizer.chat_template = QWEN2VL_CHAT_TEMPLATE
    return tokenizer
