"""Where one scoring call's time goes: vision tower, decoder (image + prompt, label trie), output layer.

Forward hooks time the vision tower, the text decoder and the output layer of one call and
count the multiply-adds of every linear layer in each (2 x in x out per row), so each part's
achieved GFLOP/s can be set beside the CPU's measured bf16 peak. The attention products
(QK^T and AV, 2 x Lq x Lk x (d + dv) per head) of every call to torch's
`scaled_dot_product_attention` inside a part are counted apart (`attention_gflop`): about 2 %
of a call for the Qwen shapes, 40 % for Gemma 3's 4,096-patch tower; attention written out
as plain products (an "eager" implementation) is not counted. They also time the linear
layers alone (`linear_ms`: the rest of a part's time is norms, rope, attention, copies and
Python) and count the weight bytes those layers read (`weight_gb`). The decoder's share for the
label trie is what a set of one-token labels ("1", "2", "3": 3 trie nodes) saves against the
measured set: the same image and prompt, almost no trie.

`floor_figures` turns a profile into this CPU's floors for one call: `floor_ms` (GFLOP over
the bf16 peak: the target's definition) and, beside it, `roofline_floor_ms`, where each part
also needs at least the time to read its weights once at the measured memory bandwidth (a
one-face call multiplies only 41-196 rows by each weight, so it cannot reuse a weight from
the caches the way the square products that set the peak do).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.recognition.lvlm.loading import unwrap
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

PARTS = ("vision", "decoder", "output")
_ONE_TOKEN_LABELS = get_label_set("custom:1,2,3")


def _first(module: Any, names: tuple[str, ...]) -> list[torch.nn.Module]:
    found = [getattr(module, n) for n in names if getattr(module, n, None) is not None]
    return found[:1]


def _parts(model: Any) -> dict[str, list[torch.nn.Module]]:
    """Each part's modules, by the attribute names the families use for them."""
    core = unwrap(model)
    body = core.model
    return {
        # the tower, and the projector where it sits beside it (LLaVA, Gemma 3, SmolVLM2,
        # InternVL); Qwen's merger is inside `visual`
        "vision": _first(body, ("visual", "vision_tower", "vision_model"))
        + _first(body, ("multi_modal_projector", "connector")),
        "decoder": _first(body, ("language_model", "text_model")),
        "output": [core.get_output_embeddings()],
    }


class _PartTimer:
    """Wall time and linear-layer FLOPs per part while installed (hooks removed on close)."""

    def __init__(self, parts: dict[str, list[torch.nn.Module]]) -> None:
        self.ms = dict.fromkeys(parts, 0.0)
        self.linear_ms = dict.fromkeys(parts, 0.0)
        self.flops = dict.fromkeys(parts, 0)
        self.attention_flops = dict.fromkeys(parts, 0)
        self.weight_bytes = dict.fromkeys(parts, 0)
        self._start: dict[str, float] = {}
        self._linear_start = 0.0
        self._handles: list[Any] = []
        for name, module in ((n, m) for n, ms in parts.items() for m in ms):
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name)))
            for sub in module.modules():
                if hasattr(sub, "in_features") and hasattr(sub, "out_features"):
                    self._handles.append(sub.register_forward_pre_hook(self._linear_pre))
                    self._handles.append(sub.register_forward_hook(self._count(name)))
        self._sdpa = torch.nn.functional.scaled_dot_product_attention
        torch.nn.functional.scaled_dot_product_attention = self._counted_sdpa

    def _counted_sdpa(self, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        inside = [part for part in PARTS if part in self._start]
        if inside:  # the tower runs outside the decoder: at most one part is open
            *batch, lq, d = query.shape
            lk, dv = key.shape[-2], value.shape[-1]
            self.attention_flops[inside[0]] += 2 * math.prod(batch) * lq * lk * (d + dv)
        return self._sdpa(query, key, value, *args, **kwargs)

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any) -> None:
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            self.ms[name] += (time.perf_counter() - self._start.pop(name)) * 1000.0

        return hook

    def _linear_pre(self, module: Any, args: Any) -> None:
        self._linear_start = time.perf_counter()

    def _count(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            self.linear_ms[name] += (time.perf_counter() - self._linear_start) * 1000.0
            x = args[0]
            rows = x.numel() // x.shape[-1]
            size = int(module.in_features) * int(module.out_features)
            self.flops[name] += 2 * rows * size
            # the weight is read once per call, in the input's dtype (bf16 packed, fp32)
            self.weight_bytes[name] += size * x.element_size()

        return hook

    def close(self) -> None:
        torch.nn.functional.scaled_dot_product_attention = self._sdpa
        for h in self._handles:
            h.remove()


def _one_call(scorer: ClosedSetScorer, face: np.ndarray, label_set: LabelSet) -> dict[str, Any]:
    timer = _PartTimer(_parts(scorer.model))
    try:
        t = time.perf_counter()
        scorer.score([face], label_set)
        total = (time.perf_counter() - t) * 1000.0
    finally:
        timer.close()
    return {
        "total": total,
        "ms": timer.ms,
        "flops": timer.flops,
        "attention_flops": timer.attention_flops,
        "linear_ms": timer.linear_ms,
        "weight_bytes": timer.weight_bytes,
    }


def profile_score(
    scorer: ClosedSetScorer, face: np.ndarray, label_set: LabelSet, repeats: int = 3
) -> dict[str, Any]:
    """Median ms, GFLOP and GFLOP/s per part of one scoring call of one face."""
    scorer.score([face], label_set)  # warm-up (and the prompt's cache)
    scorer.score([face], _ONE_TOKEN_LABELS)
    runs, small = [], []
    for _ in range(repeats):  # alternated, so load from other processes hits both alike
        runs.append(_one_call(scorer, face, label_set))
        small.append(_one_call(scorer, face, _ONE_TOKEN_LABELS))
    out: dict[str, Any] = {"total_ms": round(statistics.median(r["total"] for r in runs), 1)}
    for part in PARTS:
        ms = statistics.median(r["ms"][part] for r in runs)
        gflop = runs[0]["flops"][part] / 1e9
        attention = runs[0]["attention_flops"][part] / 1e9
        # medians of two timings: where a part is one linear layer (the output head) noise can
        # put its layer's median above the part's; the layers never take longer than the part
        linear_ms = min(ms, statistics.median(r["linear_ms"][part] for r in runs))
        out[part] = {
            # significant figures: a --quick model's output head takes a few microseconds
            "ms": float(f"{ms:.4g}"),
            "gflop": round(gflop, 3),  # linear layers
            "attention_gflop": round(attention, 3),
            "gflops_per_s": round((gflop + attention) / ms * 1000.0, 1) if ms > 0 else None,
            "linear_ms": float(f"{linear_ms:.4g}"),
            "linear_gflops_per_s": round(gflop / linear_ms * 1000.0, 1) if linear_ms > 0 else None,
            "weight_gb": round(runs[0]["weight_bytes"][part] / 1e9, 4),
        }
    dec_small = statistics.median(r["ms"]["decoder"] for r in small)
    out["decoder_image_prompt_ms"] = round(dec_small, 1)
    out["decoder_trie_ms"] = round(out["decoder"]["ms"] - dec_small, 1)
    out["trie_nodes"] = len(scorer.trie(label_set).prefixes)
    out["other_ms"] = round(out["total_ms"] - sum(out[p]["ms"] for p in PARTS), 1)
    return out


def floor_figures(result: dict[str, Any]) -> dict[str, Any]:
    """This CPU's floors for one call of the app's mode (`profile.auto`), and the ratios to them.

    `floor_ms` = profiled GFLOP (linear layers and SDPA attention) / measured bf16 peak (the
    target's definition);
    `roofline_floor_ms` = per part the larger of that and its weight bytes over the measured
    read bandwidth (`cpu_read_gbs`), summed; `linear_ms` is what the linear layers of the
    profiled call took, so `score_ms_median - linear_ms` is roughly everything else.
    """
    profile = (result.get("profile") or {}).get("auto")
    peak = result.get("cpu_bf16_peak_gflops")
    if not profile or not peak:
        return {"floor_ms": None}
    # A "peak" below what the call's own linear layers reached was measured in a slow moment
    # of a shared VM (seen: 791 GFLOP/s measured, 1348 reached by a vision tower's products):
    # the ceiling is then the rate they reached, said in `peak_source`.
    achieved = max(float(profile[part].get("linear_gflops_per_s") or 0.0) for part in PARTS)
    source = "measured"
    if achieved > peak:
        peak, source = achieved, "achieved by the call's linear layers"
    attention = sum(profile[part]["attention_gflop"] for part in PARTS)
    part_gflop = {part: profile[part]["gflop"] + profile[part]["attention_gflop"] for part in PARTS}
    gflop = sum(part_gflop.values())
    floor_ms = gflop / peak * 1000.0
    out: dict[str, Any] = {
        # significant figures, not decimals: a tiny (--quick) model's call is a few MFLOP
        "gflop_per_call": float(f"{gflop:.4g}"),
        "attention_gflop_per_call": float(f"{attention:.4g}"),
        "floor_ms": float(f"{floor_ms:.4g}"),
        # the target: every shape, as the recognizer runs it, within 1.45x of the floor
        "score_vs_floor": round(result["score_ms_median"] / floor_ms, 2) if floor_ms else None,
        "linear_ms": round(sum(profile[part]["linear_ms"] for part in PARTS), 1),
        "floor_peak_gflops": round(peak, 1),
        "peak_source": source,
    }
    read = result.get("cpu_read_gbs")
    if read:
        weight_gb = sum(profile[part]["weight_gb"] for part in PARTS)
        roof = sum(max(part_gflop[p] / peak, profile[p]["weight_gb"] / read) for p in PARTS)
        out.update(
            weight_gb_per_call=float(f"{weight_gb:.4g}"),
            memory_floor_ms=float(f"{weight_gb / read * 1000.0:.4g}"),
            roofline_floor_ms=float(f"{roof * 1000.0:.4g}"),
            score_vs_roofline=round(result["score_ms_median"] / (roof * 1000.0), 2)
            if roof
            else None,
        )
    return out
