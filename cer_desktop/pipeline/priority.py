"""Background threads yield the CPU to the live view.

On a 2-core machine the live view (capture, face analysis, render, display) shares the CPU
with work that can fall behind for a moment without anyone seeing it: the live recorder's
encoder, which has a queue of its own (`DeliveryPolicy.DROP_WHEN_FULL`). When the machine is
busy for a second, that work should wait, not the view. On Linux the nice value is per thread,
so the writer thread lowers its own priority (raising nice needs no privilege); elsewhere
`lower_this_thread` does nothing and returns False.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE_STEP = 10


def lower_this_thread(step: int = BACKGROUND_NICE_STEP) -> bool:
    """Raise the calling thread's nice value by `step` (at most 19). True when it was changed;
    False where threads have no nice value of their own (not Linux) or the call failed."""
    if not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + step))
    except OSError as exc:
        log.debug("could not lower the priority of %s: %s", threading.current_thread().name, exc)
        return False
    return True


def thread_nice(native_id: int) -> int | None:
    """The nice value of a thread of this process (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, native_id)
    except OSError:
        return None
