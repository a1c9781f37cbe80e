"""How many torch threads an LVLM gets while the live view runs beside it.

On a small CPU, torch's intra-op threads compete with capture, MediaPipe, the painter and the
recorder. `CER_LIVE_TORCH_THREADS=N` limits a live recognizer to N threads. Without it torch
keeps its default (one per core): measured on 2 cores (BENCHMARKS.md, 2026-11-29), the small
LVLM with 2 threads kept the view at 27.6 fps at load 1.8, while 1 thread at load 4.5 gave
3.3 fps; the second run was confounded by the load, so no limit is imposed until a quiet
comparison says one helps. Offline work (`cer annotate`, training, `cer bench lvlm`) keeps
torch's default.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

ENV_LIVE_THREADS = "CER_LIVE_TORCH_THREADS"


def live_torch_threads(requested: int = 0) -> int | None:
    """`requested` if > 0, else `$CER_LIVE_TORCH_THREADS`, else None (torch's default)."""
    if requested > 0:
        return requested
    env = os.environ.get(ENV_LIVE_THREADS, "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return None


def limit_for_live_view(requested: int = 0) -> int | None:
    """Set torch's intra-op threads for a live recognizer when a limit is asked for; returns
    the threads torch uses (None when torch is not loaded: no LVLM, nothing to limit)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    n = live_torch_threads(requested)
    if n is not None:
        torch.set_num_threads(n)
        log.info("torch uses %d thread(s) beside the live view", n)
    return int(torch.get_num_threads())
