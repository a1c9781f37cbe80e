"""What a loaded model's code lets the closed-set scorer do, decided once when it is loaded.

Internal transformers methods carry no compatibility promise (5.24 renamed the KV-cache
keyword of Qwen2.5-VL's `compute_3d_position_ids` from `past_key_values` to `cache` behind a
deprecation wrapper). So the scorer does not try a fast path and fall back on any `TypeError`:
it reads the signatures of the model's forward and rope code here, once, and then either runs
the path it chose or raises. `ScoringCapabilities.path` names what runs, for `cer doctor`,
`cer bench lvlm` and the session manifest. See docs/architecture.md ("LVLM scoring").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The keyword a forward pass takes its KV cache under: transformers < 5.24 `past_key_values`,
# 5.24+ `cache` (the old name is deprecated for removal in 5.40).
CACHE_KEYWORDS = ("cache", "past_key_values")
# What `compute_3d_position_ids` may ask for that the scorer can give.
ROPE_INPUTS = (
    "input_ids",
    "inputs_embeds",
    "image_grid_thw",
    "video_grid_thw",
    "second_per_grid_ts",
    "attention_mask",
    "mm_token_type_ids",
)
# Attention implementations that accept an arbitrary 4-D float mask (the tree mask).
MASKABLE_ATTENTION = ("eager", "sdpa", "flex_attention")
# Decoder layer types (a text config's `layer_types`) that attend through a mask; any other
# type (Qwen3.5's "linear_attention", "conv", "mamba"...) carries a recurrent state that runs
# over the sequence in order, so a tree mask cannot branch it over the label trie.
MASKED_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")


@dataclass(frozen=True, slots=True)
class ScoringCapabilities:
    """The scoring paths a model supports and the names its code expects.

    `single_pass`: prompt and every label prefix in one forward pass under a tree attention
    mask. `prompt_cache`: the prompt text before the image is run once and its KV cache reused.
    Without either the scorer runs two passes (prompt, then labels against its cache), which
    every decoder with a KV cache supports. `reasons` says why a fast path is off, or when
    it turns off (a sequence longer than a local attention window).
    """

    model_type: str
    cache_keyword: str  # the forward's KV-cache keyword
    rope: str  # "1d" (plain positions), "mrope" (multimodal rope by the model's code)
    rope_keywords: tuple[str, ...] = ()  # the rope function's parameters, in order
    rope_cache_keyword: str | None = None  # its KV-cache parameter, given None
    single_pass: bool = True
    prompt_cache: bool = True
    reasons: tuple[str, ...] = ()
    # the forward takes `token_type_ids` (Gemma 3): image tokens (type 1) see each other both
    # ways, which the tree mask must say since a 4-D mask replaces the model's own
    bidirectional_images: bool = False
    # the smallest local-attention window (Gemma 3's sliding layers): one tree mask serves
    # every layer, so the single pass holds only for sequences that fit in it
    sliding_window: int | None = None

    def path(self, *, single_pass: bool = True, prompt_cache: bool = True) -> str:
        """The path that runs when the caller also allows (or forbids) each fast path."""
        one = "single-pass" if (single_pass and self.single_pass) else "two-pass"
        cached = prompt_cache and self.prompt_cache
        return f"{one} + prompt cache" if cached else one

    def cache_kwargs(self, cache: Any) -> dict[str, Any]:
        """`{keyword: cache}` for a forward call."""
        return {self.cache_keyword: cache}

    def rope_positions(self, rope: Callable[..., Any], inputs: dict[str, Any]) -> Any:
        """Multimodal rope positions (3, n, L) of a fresh prompt, by the model's own code."""
        given = {k: inputs.get(k) for k in ROPE_INPUTS}
        given["inputs_embeds"] = None
        kwargs = {k: given[k] for k in self.rope_keywords if k in given}
        if self.rope_cache_keyword is not None:
            kwargs[self.rope_cache_keyword] = None  # a fresh prompt: no cache yet
        return rope(**kwargs)


def repeat_cache(cache: Any, batch: int, repeats: int) -> None:
    """Repeat each of the cache's `batch` rows `repeats` times in a row (row-major), in place.

    `batch_repeat_interleave` where every layer has it; otherwise `reorder_cache` with the
    repeated indices, which every cache layer kind implements (transformers 5.24's
    `LinearAttentionLayer`, Qwen3.5's recurrent layers, has no `batch_repeat_interleave`).
    """
    layers = getattr(cache, "layers", None) or []
    if all(hasattr(layer, "batch_repeat_interleave") for layer in layers):
        cache.batch_repeat_interleave(repeats)
        return
    import torch

    cache.reorder_cache(torch.arange(batch).repeat_interleave(repeats))


def cache_of(out: Any) -> Any:
    """The KV cache a forward pass returned, under either output name."""
    keys = out.keys() if hasattr(out, "keys") else ()
    for name in CACHE_KEYWORDS:
        if name in keys:
            return out[name]
    raise KeyError(f"{type(out).__name__} returned no KV cache (asked with use_cache=True?)")


def _params(fn: Any) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # builtins or C functions without a signature
        return {}


def detect(model: Any, processor: Any) -> ScoringCapabilities:
    """Read, from the model's code and config, which scoring paths it supports."""
    from cer_desktop.recognition.lvlm.loading import unwrap

    core = unwrap(model)
    body = getattr(core, "model", None)
    model_type = str(getattr(core.config, "model_type", type(core).__name__))
    reasons: list[str] = []
    forward = _params(body.forward) if body is not None else {}
    cache_kw = next((k for k in CACHE_KEYWORDS if k in forward), None)
    if body is None or cache_kw is None:
        from cer_desktop.recognition.lvlm.trie import ScoringError

        what = f"{type(core).__name__} has no decoder body that takes a KV cache"
        raise ScoringError(f"cannot score with this model: {what}")

    single, cached = True, True
    if "position_ids" not in forward:
        single, cached = False, False
        reasons.append("its forward takes no position_ids")
    attn = getattr(core.config, "_attn_implementation", None) or "eager"
    text_cfg = core.config.get_text_config() if hasattr(core.config, "get_text_config") else None
    attn = getattr(text_cfg, "_attn_implementation", None) or attn
    if attn not in MASKABLE_ATTENTION:
        single = False
        reasons.append(f"attention {attn!r} takes no tree mask")
    layer_types = getattr(text_cfg, "layer_types", None) or ()
    recurrent = sorted({str(t) for t in layer_types if t not in MASKED_LAYER_TYPES})
    if recurrent:
        single = False
        n = sum(t not in MASKED_LAYER_TYPES for t in layer_types)
        reasons.append(
            f"{n} of {len(layer_types)} decoder layers are {'/'.join(recurrent)} (a recurrent "
            "state): a tree mask cannot branch them over the labels"
        )

    rope_fn = getattr(body, "compute_3d_position_ids", None)
    rope, rope_cache = "1d", None
    rope_keywords: tuple[str, ...] = ()
    if rope_fn is not None:
        rope = "mrope"
        params = _params(rope_fn)
        rope_keywords = tuple(k for k in params if k in ROPE_INPUTS)
        rope_cache = next((k for k in CACHE_KEYWORDS if k in params), None)
        unknown = [
            k
            for k, p in params.items()
            if k not in ROPE_INPUTS
            and k not in CACHE_KEYWORDS
            and p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if unknown or "input_ids" not in params:
            single, cached = False, False
            reasons.append(f"compute_3d_position_ids asks for {unknown or 'no input_ids'}")
    elif hasattr(body, "get_rope_index"):
        rope = "mrope-unknown"
        single, cached = False, False
        reasons.append("multimodal rope without compute_3d_position_ids")

    sliding = _sliding_window(text_cfg or core.config)
    if sliding is not None:
        reasons.append(
            f"local attention layers: one pass only for sequences of <= {sliding} tokens"
        )

    if getattr(processor, "image_token_id", None) is None:
        cached = False
        reasons.append("the processor names no image token")
    from transformers import DynamicCache

    if not hasattr(DynamicCache, "batch_repeat_interleave"):
        cached = False
        reasons.append("DynamicCache cannot repeat a cache over a batch")
    return ScoringCapabilities(
        model_type=model_type,
        cache_keyword=cache_kw,
        rope=rope,
        rope_keywords=rope_keywords,
        rope_cache_keyword=rope_cache,
        single_pass=single,
        prompt_cache=cached,
        reasons=tuple(reasons),
        bidirectional_images="token_type_ids" in forward,
        sliding_window=sliding,
    )


def _sliding_window(text_cfg: Any) -> int | None:
    """The window of the config's sliding-window layers, None when every layer is global.

    Read from `layer_types` (Qwen2's configs carry a `sliding_window` they do not use).
    """
    window = getattr(text_cfg, "sliding_window", None)
    layer_types = getattr(text_cfg, "layer_types", None) or ()
    if window is None or "sliding_attention" not in layer_types:
        return None
    return int(window)
