"""Helpers the family modules share: a tokenizer trained here with a family's special tokens."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from cer_desktop.testing.tiny_models import _reinit
from cer_desktop.testing.tiny_tokenizers import _token_ids, train_tokenizer

# Large enough random weights that next-token distributions are far from uniform (as the
# existing tiny-model tests use): a wrong scorer must not pass a comparison by accident.
INIT_STD = 0.15


def family_tokenizer(
    special: list[str],
    chat_template: str,
    *,
    vocab: int = 700,
    extra_texts: Iterable[str] = (),
    **named: Any,
) -> tuple[Any, dict[str, int]]:
    """A byte-level BPE trained on the prompts and labels, carrying `special` as special tokens.

    `named` are the tokenizer's role tokens (`eos_token="<eos>"`, `pad_token=...`) and
    `extra_special_tokens` (the names processors read, e.g. `image_token`). Returns the
    tokenizer and the id of every special token (ids are this tokenizer's, not the real one's).
    """
    from transformers import PreTrainedTokenizerFast

    raw = train_tokenizer(special, vocab, extra_texts)
    roles = {k: v for k, v in named.items() if k.endswith("_token")}
    listed = set(roles.values()) | set((named.get("extra_special_tokens") or {}).values())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        additional_special_tokens=[t for t in special if t not in listed],
        **named,
    )
    tokenizer.chat_template = chat_template
    return tokenizer, _token_ids(tokenizer, special)


def finish(model: Any, init_std: float | None, seed: int) -> Any:
    """Redraw the weights (seeded) and put the model in fp32 eval mode."""
    torch.manual_seed(seed)
    _reinit(model, init_std)
    return model.to(torch.float32).eval()


def save(folder: Path, model: Any, processor: Any, eos_id: int, pad_id: int) -> Path:
    """Greedy generation that stops at the end-of-answer token; model and processor saved."""
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.do_sample = False
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
