"""`cer bench lvlm`: the CPU speed modes against the fp32 reference, one loaded model at a time.

Every mode scores the same taught faces, one face per call (cold calls: no reuse of a face's
results across calls), and its probabilities are compared with the fp32 model's. The fastest
mode is the fastest whose probabilities stay within `MAX_PROB_DIFF` of fp32's.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.cpu_speed import KEEPS_NUMERICS, apply_cpu_speed_mode
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.loading import load_base
from cer_desktop.recognition.lvlm.prompts import PromptTemplate
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec

MAX_PROB_DIFF = 0.03
# bench mode -> (dtype the model is loaded in, speed mode applied after loading)
BENCH_MODES: dict[str, tuple[str, str]] = {
    # the model as `load_base` returns it: bf16 on CPUs with native bf16, nothing packed
    "auto": ("auto", "none"),
    "bf16-packed": ("bf16", "packed"),
    "int8-dynamic": ("fp32", "int8-dynamic"),
}
PROFILED = ("auto", "bf16-packed")


def _scorer(folder: Path, dtype: str, speed: str, prompt: PromptTemplate) -> ClosedSetScorer:
    model, processor = load_base(ModelSpec(base=str(folder), dtype=dtype, device="cpu"))
    apply_cpu_speed_mode(model, speed)
    return ClosedSetScorer(model, processor, prompt, ImageLimits())


def measure_modes(
    folder: Path,
    faces: list[np.ndarray],
    modes: list[str],
    prompt: PromptTemplate,
    repeats: int,
    profile: Any = None,
) -> dict[str, Any]:
    """Per mode: dtype, median ms per face, max |p - p_fp32|; the fastest mode within bounds.

    `profile(scorer) -> dict`, when given, profiles the scorers of the `PROFILED` modes.
    """
    scorer = _scorer(folder, "fp32", "none", prompt)
    reference = scorer.score(faces, RAF_COMPOUND)
    del scorer
    gc.collect()
    out: dict[str, Any] = {"modes": {}}
    for mode in modes:
        dtype, speed = BENCH_MODES[mode]
        scorer = _scorer(folder, dtype, speed, prompt)
        scorer.score(faces[:1], RAF_COMPOUND)  # warm-up
        times = []
        for _ in range(repeats):
            for face in faces:
                t = time.perf_counter()
                scorer.score([face], RAF_COMPOUND)
                times.append((time.perf_counter() - t) * 1000.0)
        probs = scorer.score(faces, RAF_COMPOUND)
        diff = float(np.abs(probs - reference).max())
        out["modes"][mode] = {
            "dtype": str(next(scorer.model.parameters()).dtype),
            "score_ms_median": round(statistics.median(times), 1),
            "max_abs_prob_diff_vs_fp32": round(diff, 4),
            "keeps_numerics_of_loaded_dtype": speed in KEEPS_NUMERICS,
            "top_equals_fp32": int((probs.argmax(1) == reference.argmax(1)).sum()),
        }
        if mode in PROFILED and profile is not None:
            out.setdefault("profile", {})[mode] = profile(scorer)
        del scorer
        gc.collect()
    ok = {m: r for m, r in out["modes"].items() if r["max_abs_prob_diff_vs_fp32"] <= MAX_PROB_DIFF}
    if ok:
        fastest = min(ok, key=lambda m: ok[m]["score_ms_median"])
        out.update(
            fastest_mode=fastest,
            score_ms_median_fastest=ok[fastest]["score_ms_median"],
            max_abs_prob_diff_vs_fp32=ok[fastest]["max_abs_prob_diff_vs_fp32"],
        )
    else:
        out.update(fastest_mode=None, score_ms_median_fastest=None)
        out["max_abs_prob_diff_vs_fp32"] = min(
            r["max_abs_prob_diff_vs_fp32"] for r in out["modes"].values()
        )
    return out
