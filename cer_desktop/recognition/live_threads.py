"""How many torch threads an LVLM gets while the live view runs beside it.

On a small CPU, torch's intra-op threads (one per core by default) compete with capture,
MediaPipe, the painter and the recorder, and the view drops below camera rate. Live, the
recognizer gets every core but one (at least one); `CER_LIVE_TORCH_THREADS` overrides it.
Offline work (`cer annotate`, training, `cer bench lvlm`) keeps torch's default.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

ENV_LIVE_THREADS = "CER_LIVE_TORCH_THREADS"


def live_torch_threads(requested: int = 0) -> int:
    """`requested` if > 0, else `$CER_LIVE_TORCH_THREADS`, else all cores but one (>= 1)."""
    if requested > 0:
        return requested
    env = os.environ.get(ENV_LIVE_THREADS, "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 1) - 1)


def limit_for_live_view(requested: int = 0) -> int | None:
    """Set torch's intra-op threads for a live recognizer; None when torch is not loaded (no
    LVLM, nothing to limit). Returns the thread count set."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    n = live_torch_threads(requested)
    torch.set_num_threads(n)
    log.info("torch uses %d thread(s) beside the live view", n)
    return n
