"""Request bodies and answer parsing for the OpenAI chat API with vLLM's extensions.

Supported: vLLM >= 0.12 (`structured_outputs`; 0.32.0 is what the tests run), older vLLM
(`guided_choice`, sent as well: each release silently ignores the other's field), and other
OpenAI-compatible servers for the first-token and choice modes. Three scoring modes:

- `prompt_logprobs` (exact): the label and the end-of-answer token are prefilled as the
  assistant's answer (`continue_final_message: true`, `add_generation_prompt: false`) and
  `prompt_logprobs: 0` returns each prompt token's log-probability; the label's score is the
  sum over the tokens after the prompt. The end-of-answer token is part of the prefilled text
  (a continued final message would otherwise stop before it), so its log-probability is read
  the same way as the label's.
- `first_token`: one request per face, `top_logprobs` of the first answer token; exact only
  when the labels differ in their first token.
- `choice`: one request per face, constrained to the labels, answer parsed to a label.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, build_messages
from cer_desktop.recognition.remote.client import ServerFailed

MODES = ("prompt_logprobs", "first_token", "choice")


def image_data_url(crop: np.ndarray) -> str:
    """A lossless PNG data URL of an RGB uint8 crop (the server sees exactly these pixels)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(crop[..., ::-1]))
    if not ok:
        raise ServerFailed("could not encode the face crop as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def chat_messages(
    label_set: LabelSet, prompt: PromptTemplate, data_url: str, answer: str | None = None
) -> list[dict[str, Any]]:
    """`build_messages` (the local recognizer's prompt and order), the image as a data URL.

    `answer` is prefilled as the assistant's (unfinished) turn.
    """
    messages = build_messages(label_set, prompt)
    for message in messages:
        content = []
        for part in message["content"]:
            if part.get("type") == "image":
                part = {"type": "image_url", "image_url": {"url": data_url}}
            content.append(part)
        message["content"] = content
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def _base(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": model, "messages": messages, "temperature": 0.0, "stream": False}


def prefix_body(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The prompt alone with the assistant's opening: `usage.prompt_tokens` is its length."""
    return {**_base(model, messages), "add_generation_prompt": True, "max_tokens": 1}


def label_body(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Prompt + prefilled answer; the answer tokens' log-probabilities come back."""
    return {
        **_base(model, messages),
        "add_generation_prompt": False,
        "continue_final_message": True,
        "prompt_logprobs": 0,
        "max_tokens": 1,
    }


def first_token_body(model: str, messages: list[dict[str, Any]], top: int) -> dict[str, Any]:
    return {
        **_base(model, messages),
        "add_generation_prompt": True,
        "max_tokens": 1,
        "logprobs": True,
        "top_logprobs": top,
    }


def choice_body(
    model: str, messages: list[dict[str, Any]], labels: Sequence[str]
) -> dict[str, Any]:
    choices = list(labels)
    return {
        **_base(model, messages),
        "add_generation_prompt": True,
        "max_tokens": 48,
        "structured_outputs": {"choice": choices},  # vLLM >= 0.12
        "guided_choice": choices,  # vLLM < 0.12 (each ignores the other's field)
    }


def prompt_tokens(answer: dict[str, Any]) -> int:
    usage = answer.get("usage") or {}
    n = usage.get("prompt_tokens")
    if not isinstance(n, int) or n <= 0:
        raise ServerFailed("the server's answer has no usage.prompt_tokens")
    return n


def prompt_logprob_values(answer: dict[str, Any]) -> list[float]:
    """The log-probability of every prompt token after the first (vLLM's `prompt_logprobs`).

    Each entry holds the prompt token's own log-probability (with `prompt_logprobs: 0`, only
    it); where it holds more, `prompt_token_ids` says which is the prompt's token.
    """
    entries = answer.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) < 2:
        raise ServerFailed("the server returned no prompt log-probabilities")
    ids = answer.get("prompt_token_ids")
    out = []
    for pos, entry in enumerate(entries[1:], start=1):
        if not isinstance(entry, dict) or not entry:
            raise ServerFailed(f"prompt log-probability {pos} is missing")
        if len(entry) == 1:
            value = next(iter(entry.values()))
        elif isinstance(ids, list) and len(ids) == len(entries):
            value = entry.get(str(ids[pos]), entry.get(ids[pos]))
        else:
            raise ServerFailed("prompt log-probabilities name several tokens per position")
        lp = value.get("logprob") if isinstance(value, dict) else value
        if not isinstance(lp, (int, float)):
            raise ServerFailed(f"prompt log-probability {pos} is not a number")
        out.append(float(lp))
    return out


def answer_log_likelihood(answer: dict[str, Any], prefix_len: int) -> tuple[float, int]:
    """Summed log-probability of the tokens after the first `prefix_len`, and their count."""
    values = prompt_logprob_values(answer)
    total = len(values) + 1
    n = total - prefix_len
    if n < 1 or n > 64:
        raise ServerFailed(
            f"the answer spans {n} tokens after a {prefix_len}-token prompt: the prompt is not "
            "a prefix of the prompt with the answer on this server"
        )
    return float(sum(values[-n:])), n


def first_token_scores(answer: dict[str, Any], labels: Sequence[str]) -> np.ndarray:
    """Per label: the log-probability of the top token its text starts with (longest wins).

    A label none of the returned tokens starts is given the smallest returned value (an
    upper bound); labels sharing a first token share its score.
    """
    try:
        content = answer["choices"][0]["logprobs"]["content"]
        tops = content[0]["top_logprobs"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ServerFailed("the server returned no top_logprobs for the first token") from exc
    pairs = [(str(t.get("token", "")), float(t.get("logprob", -1e9))) for t in tops]
    pairs = [(tok, lp) for tok, lp in pairs if tok.strip()]
    if not pairs:
        raise ServerFailed("the server returned empty top_logprobs")
    floor = min(lp for _, lp in pairs)
    scores = np.full(len(labels), floor, dtype=np.float64)
    for i, label in enumerate(labels):
        best = -1
        for tok, lp in pairs:
            t = tok.lstrip()
            if label.startswith(t) and len(t) > best:
                best, scores[i] = len(t), lp
    return scores


def choice_text(answer: dict[str, Any]) -> str:
    try:
        return str(answer["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError) as exc:
        raise ServerFailed("the server's answer has no message content") from exc


def softmax(ll: np.ndarray) -> np.ndarray:
    """Row-wise softmax of log-likelihoods (n_faces x n_labels)."""
    z = ll - ll.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
