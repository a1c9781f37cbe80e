"""The plain computations the closed-set scorer is held to, and free generation with a parser.

`reference_log_likelihoods` scores one label at a time with a full forward pass (slow by
design). `generate_answers` + `parse_answer` is the free-generation option: a generated
answer is parsed to a label of the set or "unknown", never painted as free text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.encoding import (
    ImageLimits,
    encode_prompts,
    end_of_answer_ids,
    label_token_ids,
    tokenizer_of,
)
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, prompt_for
from cer_desktop.recognition.lvlm.scoring import to_model


def _token_type_keys(enc: Any) -> list[str]:
    """The processor outputs that give a type per token besides the ids and the mask."""
    import torch

    shape = enc["input_ids"].shape
    return [
        k
        for k, v in enc.items()
        if k not in ("input_ids", "attention_mask") and torch.is_tensor(v) and v.shape == shape
    ]


def reference_log_likelihoods(
    model: Any,
    processor: Any,
    images: Sequence[np.ndarray],
    label_set: LabelSet,
    prompt: PromptTemplate | None = None,
    limits: ImageLimits | None = None,
) -> np.ndarray:
    """The plain computation: one full forward of prompt + label per face and label.

    Slow by design (no cache, no batching); the batched scorer must agree with it.
    """
    import torch

    prompt = prompt or prompt_for(label_set)
    seqs = label_token_ids(processor, label_set, prompt)
    out = np.zeros((len(images), len(label_set)), dtype=np.float64)
    for i, img in enumerate(images):
        enc = to_model(encode_prompts(processor, [img], label_set, prompt, limits), model)
        for li, seq in enumerate(seqs):
            ids = torch.tensor([seq], device=enc["input_ids"].device)
            full = dict(enc)
            full["input_ids"] = torch.cat([enc["input_ids"], ids], dim=1)
            full["attention_mask"] = torch.cat([enc["attention_mask"], torch.ones_like(ids)], dim=1)
            # per-token types (Qwen's mm_token_type_ids, Gemma 3's token_type_ids): the label is text
            for k in _token_type_keys(enc):
                full[k] = torch.cat([enc[k], torch.zeros_like(ids)], dim=1)
            with torch.inference_mode():
                logits = model(**full).logits[0].float()
            lp = torch.log_softmax(logits, dim=-1)
            start = enc["input_ids"].shape[1] - 1
            out[i, li] = float(sum(lp[start + j, t] for j, t in enumerate(seq)))
    return out


_NORM_RE = re.compile(r"[^a-z0-9]+")


def _norm(text: str) -> str:
    return " ".join(_NORM_RE.sub(" ", text.lower()).split())


def parse_answer(text: str, label_set: LabelSet) -> int | None:
    """The label a free-text answer names, or None ("unknown").

    Case, punctuation, underscores and hyphens are ignored. An answer that is a label, starts
    with one, or mentions exactly one label (the longest match wins, so "Happily Surprised"
    is not read as "Surprise") maps to it; anything else is unknown.
    """
    answer = _norm(text)
    if not answer:
        return None
    labels = [_norm(lab) for lab in label_set.labels]
    for i, lab in enumerate(labels):
        if answer == lab:
            return i
    starts = [i for i, lab in enumerate(labels) if answer.startswith(lab + " ")]
    if starts:
        return max(starts, key=lambda i: len(labels[i]))
    padded = f" {answer} "
    found = [i for i, lab in enumerate(labels) if f" {lab} " in padded]
    # drop labels contained in a longer label that was also found
    found = [i for i in found if not any(j != i and labels[i] in labels[j] for j in found)]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True, slots=True)
class GeneratedAnswer:
    text: str
    label_index: int | None  # None: the answer names no label of the set ("unknown")
    tokens: int = 0  # tokens generated, the end-of-answer token included


def generate_answers(
    model: Any,
    processor: Any,
    images: Sequence[np.ndarray],
    label_set: LabelSet,
    prompt: PromptTemplate | None = None,
    limits: ImageLimits | None = None,
    max_new_tokens: int | None = None,
) -> list[GeneratedAnswer]:
    """Greedy generation for each image, stopping at the end-of-answer token, then parsed.

    `max_new_tokens` defaults to the longest label's tokens + 1.
    """
    import torch

    prompt = prompt or prompt_for(label_set)
    seqs = label_token_ids(processor, label_set, prompt)
    eoa = end_of_answer_ids(processor)
    tok = tokenizer_of(processor)
    if max_new_tokens is None:
        max_new_tokens = max(len(s) for s in seqs) + 1
    enc = to_model(encode_prompts(processor, images, label_set, prompt, limits), model)
    pad = tok.pad_token_id if tok.pad_token_id is not None else eoa[-1]
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=eoa[-1],
            pad_token_id=pad,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    answers = []
    for row in new.tolist():
        n_tokens = next((i + 1 for i, t in enumerate(row) if t == eoa[-1]), len(row))
        text = tok.decode(row[:n_tokens], skip_special_tokens=True).strip()
        answers.append(GeneratedAnswer(text, parse_answer(text, label_set), n_tokens))
    return answers
