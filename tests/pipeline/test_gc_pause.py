"""Full garbage collections stay off the live path: what is alive when a live run starts is
frozen out of the collector until the run ends, and a recognizer replaced mid-run is still
collected (its reference cycles are how a model's memory would leak)."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline import gc_pause
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.testing.fakes import (
    CollectingSink,
    FakeAnalyzer,
    FixedRecognizer,
    ListSource,
    synthetic_frames,
)


def _live(recognizer: FixedRecognizer, fps: float = 100.0) -> Pipeline:
    source = ListSource(synthetic_frames(4), fps=fps, live=True, loop=True)
    p = Pipeline(source, FakeAnalyzer(), recognizer, RAF_BASIC, sinks=[CollectingSink()])
    p.start()
    return p


def _wait(condition, seconds: float = 5.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _no_other_live_run() -> None:
    # (a live run another test left going would hold the freeze too)
    assert gc_pause.holders() == 0 and gc.get_freeze_count() == 0


def test_a_live_run_freezes_what_is_alive_and_releases_it_at_its_end() -> None:
    _no_other_live_run()
    p = _live(FixedRecognizer())
    assert _wait(lambda: p.stats.frames_painted > 5)
    assert gc_pause.holders() == 1
    assert gc.get_freeze_count() > 1000, "modules and models are out of the collector's sight"
    p.stop()
    assert gc_pause.holders() == 0 and gc.get_freeze_count() == 0


def test_two_live_runs_keep_the_freeze_until_the_last_one_ends() -> None:
    _no_other_live_run()
    a, b = _live(FixedRecognizer()), _live(FixedRecognizer())
    assert _wait(lambda: a.stats.frames_painted > 2 and b.stats.frames_painted > 2)
    a.stop()
    assert gc_pause.holders() == 1 and gc.get_freeze_count() > 0
    b.stop()
    assert gc_pause.holders() == 0 and gc.get_freeze_count() == 0


class _Cyclic(FixedRecognizer):
    """A recognizer in a reference cycle, as a loaded model's objects often are."""

    def __init__(self, closed: threading.Event) -> None:
        super().__init__(name="cyclic")
        self.me = self
        self.closed_event = closed

    def close(self) -> None:
        super().close()
        self.closed_event.set()


def test_a_recognizer_replaced_mid_run_is_collected_while_the_run_goes_on() -> None:
    _no_other_live_run()
    closed = threading.Event()
    old = _Cyclic(closed)
    gone = weakref.ref(old)
    p = _live(old)
    try:
        assert _wait(lambda: p.stats.frames_painted > 5)
        assert gc.get_freeze_count() > 0  # the old recognizer is frozen with the rest
        p.set_recognizer(FixedRecognizer(name="new"))
        del old
        assert closed.wait(5), "the worker closes the replaced recognizer"
        # then everything is collectable again, so the next full collection (one here, as
        # the collector would run by itself) frees the old recognizer's cycle,
        assert _wait(lambda: gc.get_freeze_count() == 0)
        gc.collect()
        assert gone() is None, "the replaced recognizer was not collected"
        # and the run freezes what is alive again right after that collection
        assert _wait(lambda: gc.get_freeze_count() > 1000)
        assert p.running and gc_pause.holders() == 1
    finally:
        p.stop()
    assert gc_pause.holders() == 0 and gc.get_freeze_count() == 0
