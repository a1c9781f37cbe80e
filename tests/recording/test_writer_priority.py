"""The live recorder's writer yields the CPU to the view: its thread runs at a lower priority
(Linux: a higher nice value) than the thread that made it; an offline recorder does not."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from rec_synthetic import record
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.pipeline.priority import lower_this_thread, thread_nice
from cer_desktop.recording.recorder import SessionRecorder

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux only"
)


def test_lower_this_thread_changes_only_the_calling_thread():
    # given a thread that lowers its own priority
    seen: dict[str, int | None] = {}

    def body() -> None:
        seen["changed"] = lower_this_thread(5)
        seen["nice"] = thread_nice(threading.get_native_id())

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=body)
    t.start()
    t.join()
    # then its nice value went up by 5 (at most 19) and this thread's did not move
    assert seen["changed"] is True
    assert seen["nice"] == min(19, mine + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


@pytest.mark.parametrize("block", [False, True], ids=["live", "offline"])
def test_only_the_live_writer_runs_at_background_priority(tmp_path, block):
    # given a recorder that has written a few frames
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    rec = SessionRecorder(tmp_path / "s", fps=30, block=block)
    try:
        record(rec, 5)
        writer = rec._thread.native_id
        assert writer is not None
        nice = thread_nice(writer)
    finally:
        rec.close()
    # then the live writer is niced below the caller, the offline one is not
    if block:
        assert nice == mine
    else:
        assert nice is not None and nice > mine
    assert rec.frames_written == 5
