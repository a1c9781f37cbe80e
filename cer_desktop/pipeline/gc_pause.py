"""Keep Python's full garbage collections off the live path.

A full (generation-2) collection walks every object the collector tracks. Once MediaPipe,
OpenCV, SciPy (and torch, with a model) are imported that is well over 100,000 objects, and on
this project's 2-core machine one collection took 90-250 ms, every 10-20 s of a live run,
during which the capture thread stands still: a hitch in the live view, and a camera's
frames lost while recording (`cer bench record`'s `max_gap_ms`; BENCHMARKS.md).

What is alive when a live run starts (modules, the face model, the recognizer) lives as long
as the run, so `hold()` (from `Pipeline.start`) moves it out of the collector's sight
(`gc.freeze`; `freeze_new()` once the face model has started in the capture thread) and
`release()` puts it back when the last live run ends. Only the thread that
starts the run may collect first, and only when it is the main thread: a collection runs the
finalizers of whatever it frees in the collecting thread, and Qt objects must die in the GUI
thread (a collection in the capture thread crashed a test that was closing windows).

A recognizer replaced in the middle of a run may hold reference cycles only the collector
frees (a model's gigabytes): after closing it the worker calls `thaw()`, which unfreezes
everything; the next full collection (automatic, as without this module) frees the old model,
and the capture loop's `tick()` freezes again right after it. Reference counting frees frozen
objects as always; only their cycles wait for `release()` or `thaw()`.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

__all__ = ["freeze_new", "hold", "holders", "release", "thaw", "tick"]

_lock = threading.Lock()
_holders = 0
_thawed = False  # unfrozen mid-run, waiting for a full collection
_refreeze_due = False  # that collection happened: freeze again


def hold() -> None:
    """A live run starts: collect once (main thread only), then freeze everything alive."""
    global _holders
    with _lock:
        _holders += 1
        if threading.current_thread() is threading.main_thread():
            gc.collect()
        gc.freeze()


def freeze_new() -> None:
    """Freeze what was made since `hold()` too: the face model and the modules its start
    imported (MediaPipe's tasks, SciPy's solver) are as long-lived as the rest."""
    with _lock:
        if _holders:
            gc.freeze()


def release() -> None:
    """A live run ended: when it was the last one, everything is collectable again."""
    global _holders, _thawed, _refreeze_due
    with _lock:
        _holders = max(0, _holders - 1)
        if _holders == 0:
            gc.unfreeze()
            _thawed = _refreeze_due = False


def thaw() -> None:
    """Something long-lived was dropped mid-run: let the next full collection free it."""
    global _thawed
    with _lock:
        if _holders:
            gc.unfreeze()
            _thawed = True


def tick() -> None:
    """Once per live frame: freeze again after the full collection a `thaw()` waited for."""
    global _thawed, _refreeze_due
    if not _refreeze_due:
        return
    with _lock:
        if _refreeze_due and _holders:
            gc.freeze()
        _thawed = _refreeze_due = False


def holders() -> int:
    """How many live runs hold the freeze (0: nothing is frozen by this module)."""
    with _lock:
        return _holders


def _after_collection(phase: str, info: dict[str, Any]) -> None:
    global _refreeze_due
    if phase == "stop" and info.get("generation") == 2 and _thawed:
        _refreeze_due = True  # no gc call here: the collector is still running


gc.callbacks.append(_after_collection)
