"""Closed-set label scoring: a probability over the labels from each label's log-likelihood.

The score of a label is the summed log-probability of its answer tokens *and* the
end-of-answer token after the prompt (so a label cannot win on being the prefix of another),
softmaxed over the set. The labels' tokens form a trie; the distributions needed are the one
after the prompt and one after each distinct proper prefix of a label (RAF-DB compound: the
prompt + 5 first words + 11 labels, not 11 labels x 3 positions).

- One forward pass (default): every face's image + prompt, followed by the trie's prefixes,
  one token each, under a tree attention mask (each prefix sees the prompt, its ancestors and
  itself) at the positions it would have in the answer. Batched over faces.
- Two passes (fallback for models the mask cannot be given to): the prompt with a KV cache,
  then every label's remaining tokens at once against the cache expanded over the labels.

In both, the prompt's text sits before the image (see `prompts.build_messages`) and its KV
cache is computed once per prompt and reused across faces and frames; the output layer (the
whole vocabulary) is applied once per trie prefix. `reference_log_likelihoods` is the plain
one-label-at-a-time computation the tests hold both paths to. Free generation with a parser
(`generate_answers`, `parse_answer`) stays available.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cer_desktop.contracts import RecognizerError
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.encoding import (
    ImageLimits,
    encode_prompts,
    end_of_answer_ids,
    label_token_ids,
    tokenizer_of,
)
from cer_desktop.recognition.lvlm.loading import unwrap
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, prompt_for

log = logging.getLogger(__name__)

MIN_STATIC_TOKENS = 8


class ScoringError(RecognizerError):
    """The model could not score the faces (bad input, out of memory, unsupported model)."""


@dataclass(frozen=True)
class LabelTrie:
    """The labels' answer tokens, with the distinct prefixes the scorer needs distributions for."""

    sequences: tuple[tuple[int, ...], ...]  # per label: answer tokens + end-of-answer
    rows: tuple[tuple[int, ...], ...]  # continuation rows: sequences minus last token, deduplicated
    prefixes: tuple[tuple[int, ...], ...]  # distinct non-empty prefixes that need a distribution
    where: tuple[tuple[int, int], ...]  # per prefix: (row, position) whose output predicts after it

    @classmethod
    def build(cls, sequences: Sequence[Sequence[int]]) -> LabelTrie:
        seqs = tuple(tuple(int(t) for t in s) for s in sequences)
        if any(not s for s in seqs):
            raise ScoringError("a label encodes to no tokens")
        if len(set(seqs)) != len(seqs):
            raise ScoringError("two labels encode to the same tokens")
        bodies = sorted({s[:-1] for s in seqs if len(s) > 1}, key=len, reverse=True)
        rows: list[tuple[int, ...]] = []
        for b in bodies:  # longest first: a body that prefixes a kept row needs no row
            if not any(r[: len(b)] == b for r in rows):
                rows.append(b)
        prefixes = sorted(
            {s[:j] for s in seqs for j in range(1, len(s))}, key=lambda p: (len(p), p)
        )
        where = []
        for p in prefixes:
            r = next(i for i, row in enumerate(rows) if row[: len(p)] == p)
            where.append((r, len(p) - 1))
        return cls(seqs, tuple(rows), tuple(prefixes), tuple(where))


def _softcap(core: Any) -> float | None:
    cfg = core.config
    text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return getattr(text, "final_logit_softcapping", None)


def input_dtype(model: Any) -> Any:
    """The floating dtype the model computes in (first floating parameter; 4-bit weights are ints)."""
    import torch

    for p in unwrap(model).parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32


def model_device(model: Any) -> Any:
    return next(unwrap(model).parameters()).device


def to_model(batch: Any, model: Any) -> dict[str, Any]:
    """Move a processor batch to the model's device; floating tensors to its dtype."""
    import torch

    device, dtype = model_device(model), input_dtype(model)
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
        out[k] = v
    return out


class ClosedSetScorer:
    """Scores images against a closed label set with one model (base or base + LoRA adapter).

    `prompt` None uses the prompt written for each label set (`prompt_for`). Not thread-safe:
    call from one worker thread (Qwen2-VL keeps its rope offsets on the model between passes).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        prompt: PromptTemplate | None = None,
        limits: ImageLimits | None = None,
    ) -> None:
        self.model = model
        self.processor = processor
        self.prompt = prompt
        self.limits = limits
        # reuse the KV cache of the prompt text before the image across calls
        self.reuse_prompt_cache = True
        # score the prompt and all label prefixes in one pass (tree attention mask); the
        # two-pass path (prefix, then labels against its cache) is the fallback
        self.single_pass = True
        self._static: dict[tuple[int, ...], Any] = {}
        self._tries: dict[tuple[str, tuple[str, ...], str], LabelTrie] = {}

    def prompt_for(self, label_set: LabelSet) -> PromptTemplate:
        return self.prompt if self.prompt is not None else prompt_for(label_set)

    def trie(self, label_set: LabelSet) -> LabelTrie:
        """The label set's answer tokens (cached per label set and prompt)."""
        prompt = self.prompt_for(label_set)
        key = (label_set.name, label_set.labels, prompt.text)
        if key not in self._tries:
            seqs = label_token_ids(self.processor, label_set, prompt)
            try:
                self._tries[key] = LabelTrie.build(seqs)
            except ScoringError as exc:
                raise ScoringError(f"label set {label_set.name!r}: {exc}") from exc
        return self._tries[key]

    def score(self, images: Sequence[np.ndarray], label_set: LabelSet) -> np.ndarray:
        """Probabilities (n_images x n_labels), each row summing to 1."""
        ll = self.log_likelihoods(images, label_set)
        ll = ll - ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        return p / p.sum(axis=1, keepdims=True)

    def log_likelihoods(self, images: Sequence[np.ndarray], label_set: LabelSet) -> np.ndarray:
        """Summed log-probability of each label's answer tokens (n_images x n_labels)."""
        if len(images) == 0:
            return np.zeros((0, len(label_set)), dtype=np.float64)
        trie = self.trie(label_set)
        prompt = self.prompt_for(label_set)
        # Faces of one size share a prompt length: score each size group in one batch.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(tuple(np.shape(img)), []).append(i)
        out = np.zeros((len(images), len(label_set)), dtype=np.float64)
        for idx in groups.values():
            batch = encode_prompts(
                self.processor, [images[i] for i in idx], label_set, prompt, self.limits
            )
            out[idx] = self._score_batch(batch, trie)
        return out

    def _static_length(self, inputs: dict[str, Any]) -> int:
        """Tokens before the first image token, shared by every face and frame (0: none)."""
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        if not self.reuse_prompt_cache or (mask is not None and not bool(mask.all())):
            return 0
        image_id = getattr(self.processor, "image_token_id", None)
        if image_id is None:
            return 0
        hits = (ids[0] == image_id).nonzero()
        if len(hits) == 0:
            return 0
        n = int(hits[0, 0])
        # keep at least one token before the image out of the cache: vision start markers etc.
        return n if n >= MIN_STATIC_TOKENS else 0

    def _static_cache(self, body: Any, static_ids: Any) -> Any:
        """A fresh copy of the KV cache of the static tokens (computed once per prompt)."""
        import copy

        key = tuple(static_ids.tolist())
        if key not in self._static:
            if len(self._static) >= 8:
                self._static.pop(next(iter(self._static)))
            out = body(input_ids=static_ids[None], use_cache=True)
            self._static[key] = out.past_key_values
        return copy.deepcopy(self._static[key])

    def _prefix_pass(self, body: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
        """Image + prompt of every face: the last position's hidden state and the KV cache.

        When the prompt's text comes before the image, that text is the same for every face
        and frame: its cache is computed once and only the image and what follows run per call.
        """
        static = self._static_length(inputs)
        if static:
            try:
                out = self._prefix_after_static(body, inputs, static)
            except (TypeError, ValueError, NotImplementedError) as exc:
                # a model whose code this path does not fit: score without the prompt cache
                log.warning("prompt cache disabled for %s: %s", type(body).__name__, exc)
                self.reuse_prompt_cache = False
                out = None
            if out is not None:
                return out.last_hidden_state[:, -1], out.past_key_values
        out = body(**inputs, use_cache=True)
        return out.last_hidden_state[:, -1], out.past_key_values

    def _prefix_after_static(self, body: Any, inputs: dict[str, Any], static: int) -> Any:
        """The prefix pass over what follows the cached static tokens (None: not possible)."""
        ids = inputs["input_ids"]
        rope = getattr(body, "compute_3d_position_ids", None)
        if rope is None and hasattr(body, "get_rope_index"):
            return None  # multimodal rope this code does not know how to continue
        position_ids = None
        if rope is not None:
            # multimodal rope (Qwen2-VL): positions of the whole sequence by the model's own code
            # (which also stores the rope deltas the continuation pass needs); keep the new part
            position_ids = self._rope_positions(rope, inputs)
            if position_ids is None:
                return None
            position_ids = position_ids[..., static:]
        n = int(ids.shape[0])
        cache = self._static_cache(body, ids[0, :static])
        cache.batch_repeat_interleave(n)
        rest = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        if "mm_token_type_ids" in rest:
            rest["mm_token_type_ids"] = rest["mm_token_type_ids"][:, static:]
        return body(
            input_ids=ids[:, static:],
            past_key_values=cache,
            position_ids=position_ids,
            use_cache=True,
            **rest,
        )

    def _single_pass(self, body: Any, inputs: dict[str, Any], trie: LabelTrie) -> Any:
        """Prompt and every label prefix in ONE forward pass (tree attention); None: not possible.

        The trie's distinct prefixes are appended after the prompt, one token each, with an
        attention mask that lets each see the prompt, its ancestors and itself, and the
        position it would have in the answer. Returns the hidden states (n, 1 + n_prefixes, H):
        the prompt's last one, then one per prefix.
        """
        import torch

        ids = inputs["input_ids"]
        mask2d = inputs.get("attention_mask")
        if mask2d is not None and not bool(mask2d.all()):
            return None  # padded rows: the two-pass path handles them
        rope = getattr(body, "compute_3d_position_ids", None)
        if rope is None and hasattr(body, "get_rope_index"):
            return None
        n, length = int(ids.shape[0]), int(ids.shape[1])
        device = ids.device
        nodes = trie.prefixes
        index = {p: i for i, p in enumerate(nodes)}
        depth = torch.tensor([len(p) for p in nodes], device=device)
        static = self._static_length(inputs)
        try:
            if rope is not None:
                position_ids = self._rope_positions(rope, inputs)
                if position_ids is None:
                    return None
                node_pos = position_ids[..., -1:] + depth  # answers are text: t = h = w
            else:
                position_ids = torch.arange(length, device=device).expand(n, length)
                node_pos = (length - 1 + depth).expand(n, len(nodes))
            position_ids = torch.cat([position_ids[..., static:], node_pos], dim=-1)
            chunk = length - static
            q, kv = chunk + len(nodes), length + len(nodes)
            allowed = torch.zeros(q, kv, dtype=torch.bool, device=device)
            allowed[:chunk, :static] = True
            allowed[:chunk, static:length] = torch.ones(chunk, chunk, device=device).tril().bool()
            allowed[chunk:, :length] = True
            for j, p in enumerate(nodes):
                for k in range(1, len(p) + 1):
                    allowed[chunk + j, length + index[p[:k]]] = True
            dtype = input_dtype(self.model)
            mask = torch.zeros(q, kv, dtype=dtype, device=device)
            mask.masked_fill_(~allowed, torch.finfo(dtype).min)
            node_ids = torch.tensor([p[-1] for p in nodes], device=device, dtype=ids.dtype)
            rest = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
            if "mm_token_type_ids" in rest:
                types = rest["mm_token_type_ids"][:, static:]
                rest["mm_token_type_ids"] = torch.cat(
                    [types, torch.zeros(n, len(nodes), dtype=types.dtype, device=device)], dim=1
                )
            cache = None
            if static:
                cache = self._static_cache(body, ids[0, :static])
                cache.batch_repeat_interleave(n)
            out = body(
                input_ids=torch.cat([ids[:, static:], node_ids.expand(n, -1)], dim=1),
                attention_mask=mask[None, None].expand(n, 1, q, kv),
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=cache is not None,
                **rest,
            )
        except (TypeError, ValueError, NotImplementedError) as exc:
            log.warning("single-pass scoring disabled for %s: %s", type(body).__name__, exc)
            self.single_pass = False
            return None
        hidden = out.last_hidden_state
        return torch.cat([hidden[:, chunk - 1 : chunk], hidden[:, chunk:]], dim=1)

    def _rope_positions(self, rope: Any, inputs: dict[str, Any]) -> Any:
        """Multimodal rope positions (3, n, L) of the prompt, by the model's own code."""
        import inspect

        offered = {
            "input_ids": inputs["input_ids"],
            "inputs_embeds": None,
            "image_grid_thw": inputs.get("image_grid_thw"),
            "video_grid_thw": inputs.get("video_grid_thw"),
            "second_per_grid_ts": inputs.get("second_per_grid_ts"),
            "attention_mask": inputs.get("attention_mask"),
            "past_key_values": None,
            "mm_token_type_ids": inputs.get("mm_token_type_ids"),
        }
        params = inspect.signature(rope).parameters
        return rope(**{k: v for k, v in offered.items() if k in params})

    def _score_batch(self, batch: Any, trie: LabelTrie) -> np.ndarray:
        import torch

        core = unwrap(self.model)
        body = getattr(core, "model", None)
        head = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
        if body is None or head is None:
            raise ScoringError(
                f"{type(core).__name__} has no decoder body + output layer to score with"
            )
        cap = _softcap(core)
        inputs = to_model(batch, self.model)
        n = int(inputs["input_ids"].shape[0])

        def log_probs(hidden: Any) -> Any:
            logits = head(hidden).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            return torch.log_softmax(logits, dim=-1)

        pos = {p: i for i, p in enumerate(trie.prefixes)}
        with torch.inference_mode():
            states = self._single_pass(body, inputs, trie) if self.single_pass else None
            if states is not None:
                # one pass: the prompt's last state, then one state per trie prefix. The output
                # layer runs once over all of them: on a CPU it is memory-bound (Qwen's
                # 151,936-row matrix is read whole per call), so one call costs about as
                # much as one position.
                both = log_probs(states)
                first, dist = both[:, 0], (both[:, 1:] if trie.prefixes else None)
            else:
                last, cache = self._prefix_pass(body, inputs)
                first = None  # (n, V): after the prompt
                dist = None
                if trie.rows:
                    m, width = len(trie.rows), max(len(r) for r in trie.rows)
                    pad = trie.rows[0][0]  # any token: right padding is never attended by real ones
                    rows = torch.tensor(
                        [list(r) + [pad] * (width - len(r)) for r in trie.rows],
                        device=inputs["input_ids"].device,
                    )
                    cache.batch_repeat_interleave(m)  # face-major: face0's rows, face1's rows...
                    # No attention mask: the prefix has no padding, and without one the model
                    # places the new tokens after the cache (Qwen2-VL adds its stored rope deltas).
                    cont = body(input_ids=rows.repeat(n, 1), past_key_values=cache, use_cache=True)
                    hidden = cont.last_hidden_state.view(n, m, width, -1)
                    r_idx = torch.tensor([w[0] for w in trie.where], device=hidden.device)
                    p_idx = torch.tensor([w[1] for w in trie.where], device=hidden.device)
                    # the output layer once over the prompt's last state and every prefix
                    both = log_probs(torch.cat([last[:, None], hidden[:, r_idx, p_idx]], dim=1))
                    first, dist = both[:, 0], both[:, 1:]  # (n, V), (n, n_prefixes, V)
                if first is None:
                    first = log_probs(last)
            ll = torch.stack([first[:, s[0]] for s in trie.sequences], dim=1)  # (n, L)
            if trie.prefixes:  # some label has more than one token
                if dist is None:
                    raise ScoringError("no distributions were computed after the label prefixes")
                for li, s in enumerate(trie.sequences):
                    for j in range(1, len(s)):
                        ll[:, li] += dist[:, pos[s[:j]], s[j]]
        return ll.double().cpu().numpy()


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
            if "mm_token_type_ids" in enc:
                full["mm_token_type_ids"] = torch.cat(
                    [enc["mm_token_type_ids"], torch.zeros_like(ids)], dim=1
                )
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
