"""Where one scoring call's time goes: vision tower, decoder (image + prompt, label trie), output layer.

Forward hooks time the vision tower, the text decoder and the output layer of one call and
count the multiply-adds of every linear layer in each (2 x in x out per row), so each part's
achieved GFLOP/s can be set beside the CPU's measured bf16 peak. The decoder's share for the
label trie is what a set of one-token labels ("1", "2", "3": 3 trie nodes) saves against the
measured set: the same image and prompt, almost no trie.
"""

from __future__ import annotations

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


def _parts(model: Any) -> dict[str, torch.nn.Module]:
    core = unwrap(model)
    body = core.model
    return {
        "vision": body.visual,
        "decoder": body.language_model,
        "output": core.get_output_embeddings(),
    }


class _PartTimer:
    """Wall time and linear-layer FLOPs per part while installed (hooks removed on close)."""

    def __init__(self, parts: dict[str, torch.nn.Module]) -> None:
        self.ms = dict.fromkeys(parts, 0.0)
        self.flops = dict.fromkeys(parts, 0)
        self._start: dict[str, float] = {}
        self._handles: list[Any] = []
        for name, module in parts.items():
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name)))
            for sub in module.modules():
                if hasattr(sub, "in_features") and hasattr(sub, "out_features"):
                    self._handles.append(sub.register_forward_hook(self._count(name)))

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any) -> None:
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            self.ms[name] += (time.perf_counter() - self._start.pop(name)) * 1000.0

        return hook

    def _count(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            x = args[0]
            rows = x.numel() // x.shape[-1]
            self.flops[name] += 2 * rows * int(module.in_features) * int(module.out_features)

        return hook

    def close(self) -> None:
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
    return {"total": total, "ms": timer.ms, "flops": timer.flops}


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
        out[part] = {
            "ms": round(ms, 1),
            "gflop": round(gflop, 3),
            "gflops_per_s": round(gflop / ms * 1000.0, 1) if ms > 0 else None,
        }
    dec_small = statistics.median(r["ms"]["decoder"] for r in small)
    out["decoder_image_prompt_ms"] = round(dec_small, 1)
    out["decoder_trie_ms"] = round(out["decoder"]["ms"] - dec_small, 1)
    out["trie_nodes"] = len(scorer.trie(label_set).prefixes)
    out["other_ms"] = round(out["total_ms"] - sum(out[p]["ms"] for p in PARTS), 1)
    return out
