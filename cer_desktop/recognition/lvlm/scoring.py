"""Closed-set label scoring: a probability over the labels from each label's log-likelihood.

The score of a label is the summed log-probability of its answer tokens *and* the
end-of-answer token after the prompt (so a label cannot win on being the prefix of another),
softmaxed over the set. The labels' tokens form a trie; the distributions needed are the one
after the prompt and one after each distinct proper prefix of a label (RAF-DB compound: the
prompt + 5 first words + 11 labels, not 11 labels x 3 positions).

- One forward pass (default): every face's image + prompt, followed by the trie's prefixes,
  one token each, under a tree attention mask (each prefix sees the prompt, its ancestors and
  itself) at the positions it would have in the answer. Batched over faces.
- Two passes (for models the mask cannot be given to): the prompt with a KV cache, then
  every label's remaining tokens at once against the cache expanded over the labels.

Which path runs is decided once, when the scorer is built, from the model's code
(`capabilities.detect`); `ClosedSetScorer.path` names it. A failure on the chosen path is a
`ScoringError`, never a silent switch to a slower path.

In both, the prompt's text sits before the image (see `prompts.build_messages`) and its KV
cache is computed once per prompt and reused across faces and frames; the output layer (the
whole vocabulary) is applied once per trie prefix. `reference_log_likelihoods` is the plain
one-label-at-a-time computation the tests hold both paths to (`generation.py`, with free
generation and its parser). The label trie is in `trie.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm import capabilities
from cer_desktop.recognition.lvlm.capabilities import ScoringCapabilities, cache_of, repeat_cache
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts, label_token_ids
from cer_desktop.recognition.lvlm.loading import unwrap
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, prompt_for
from cer_desktop.recognition.lvlm.tree_mask import image_blocks, tree_mask
from cer_desktop.recognition.lvlm.trie import LabelTrie, ScoringError

__all__ = ["ClosedSetScorer", "LabelTrie", "ScoringError", "input_dtype", "to_model"]

log = logging.getLogger(__name__)

MIN_STATIC_TOKENS = 8


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
        # what the model's code supports, read once (raises ScoringError for a model that
        # cannot be scored at all)
        self.capabilities: ScoringCapabilities = capabilities.detect(model, processor)
        for reason in self.capabilities.reasons:
            log.info("%s scoring: %s", self.capabilities.model_type, reason)
        # the caller's choices (benchmarks switch a fast path off to measure what it gives);
        # a path runs only where the model supports it too
        self.reuse_prompt_cache = True
        self.single_pass = True
        self._ran: str | None = None  # the path the last call took
        self._static: dict[tuple[int, ...], Any] = {}
        self._tries: dict[tuple[str, tuple[str, ...], str], LabelTrie] = {}

    @property
    def path(self) -> str:
        """The path scoring takes: "single-pass + prompt cache", "single-pass", "two-pass", ...

        After a call, the path that call took (the prompt cache also needs the prompt's text
        before the image, which e.g. LLaVA-1.5's chat template does not give); before, the
        path the model's code allows.
        """
        return self._ran or self.capabilities.path(
            single_pass=self.single_pass, prompt_cache=self.reuse_prompt_cache
        )

    @property
    def _use_single_pass(self) -> bool:
        return self.single_pass and self.capabilities.single_pass

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
        if not (self.reuse_prompt_cache and self.capabilities.prompt_cache):
            return 0
        if mask is not None and not bool(mask.all()):
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
            self._static[key] = cache_of(out)
        return copy.deepcopy(self._static[key])

    def _prefix_pass(self, body: Any, inputs: dict[str, Any]) -> tuple[Any, Any]:
        """Image + prompt of every face: the last position's hidden state and the KV cache.

        When the prompt's text comes before the image, that text is the same for every face
        and frame: its cache is computed once and only the image and what follows run per call.
        """
        static = self._static_length(inputs)
        out = (
            self._prefix_after_static(body, inputs, static)
            if static
            else body(**inputs, use_cache=True)
        )
        return out.last_hidden_state[:, -1], cache_of(out)

    def _prefix_after_static(self, body: Any, inputs: dict[str, Any], static: int) -> Any:
        """The prefix pass over what follows the cached static tokens."""
        ids = inputs["input_ids"]
        position_ids = None
        if self.capabilities.rope == "mrope":
            # multimodal rope (Qwen2-VL): positions of the whole sequence by the model's own code
            # (which also stores the rope deltas the continuation pass needs); keep the new part
            rope = body.compute_3d_position_ids
            position_ids = self.capabilities.rope_positions(rope, inputs)[..., static:]
        n = int(ids.shape[0])
        cache = self._static_cache(body, ids[0, :static])
        repeat_cache(cache, 1, n)
        rest = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        # (Gemma 3 reads token_type_ids by absolute position, cached tokens included: kept whole)
        if "mm_token_type_ids" in rest:
            rest["mm_token_type_ids"] = rest["mm_token_type_ids"][:, static:]
        return body(
            input_ids=ids[:, static:],
            position_ids=position_ids,
            use_cache=True,
            **self.capabilities.cache_kwargs(cache),
            **rest,
        )

    def _single_pass(self, body: Any, inputs: dict[str, Any], trie: LabelTrie) -> Any:
        """Prompt and every label prefix in ONE forward pass (tree attention); None: padded rows.

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
        caps = self.capabilities
        n, length = int(ids.shape[0]), int(ids.shape[1])
        device = ids.device
        nodes = trie.prefixes
        depth = torch.tensor([len(p) for p in nodes], device=device)
        longest = max((len(p) for p in nodes), default=0)
        if caps.sliding_window is not None and length + longest > caps.sliding_window:
            return None  # past the local layers' window: the two-pass path
        static = self._static_length(inputs)
        if caps.rope == "mrope":
            position_ids = caps.rope_positions(body.compute_3d_position_ids, inputs)
            node_pos = position_ids[..., -1:] + depth  # answers are text: t = h = w
        else:
            position_ids = torch.arange(length, device=device).expand(n, length)
            node_pos = (length - 1 + depth).expand(n, len(nodes))
        position_ids = torch.cat([position_ids[..., static:], node_pos], dim=-1)
        chunk = length - static
        q, kv = chunk + len(nodes), length + len(nodes)
        blocks: list[tuple[int, int]] = []
        if caps.bidirectional_images and "token_type_ids" in inputs:
            types = inputs["token_type_ids"]
            if bool((types != types[:1]).any()):
                return None  # rows with images at different places: the two-pass path
            blocks = image_blocks(types[0])
        mask = tree_mask(length, static, trie, input_dtype(self.model), device, blocks)
        node_ids = torch.tensor([p[-1] for p in nodes], device=device, dtype=ids.dtype)
        # (token_type_ids only shape the mask, which the 4-D mask now is)
        skip = ("input_ids", "attention_mask", "token_type_ids")
        rest = {k: v for k, v in inputs.items() if k not in skip}
        if "mm_token_type_ids" in rest:
            types = rest["mm_token_type_ids"][:, static:]
            rest["mm_token_type_ids"] = torch.cat(
                [types, torch.zeros(n, len(nodes), dtype=types.dtype, device=device)], dim=1
            )
        cache = None
        if static:
            cache = self._static_cache(body, ids[0, :static])
            repeat_cache(cache, 1, n)
        out = body(
            input_ids=torch.cat([ids[:, static:], node_ids.expand(n, -1)], dim=1),
            attention_mask=mask[None, None].expand(n, 1, q, kv),
            position_ids=position_ids,
            use_cache=cache is not None,
            **caps.cache_kwargs(cache),
            **rest,
        )
        hidden = out.last_hidden_state
        return torch.cat([hidden[:, chunk - 1 : chunk], hidden[:, chunk:]], dim=1)

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
            states = self._single_pass(body, inputs, trie) if self._use_single_pass else None
            cached = " + prompt cache" if self._static_length(inputs) else ""
            self._ran = ("single-pass" if states is not None else "two-pass") + cached
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
                    repeat_cache(cache, n, m)  # face-major: face0's rows, face1's rows...
                    # No attention mask: the prefix has no padding, and without one the model
                    # places the new tokens after the cache (Qwen2-VL adds its stored rope deltas).
                    cont = body(
                        input_ids=rows.repeat(n, 1),
                        use_cache=True,
                        **self.capabilities.cache_kwargs(cache),
                    )
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
