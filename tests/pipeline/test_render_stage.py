"""The live loop's second stage: frame N is painted and delivered while N+1 is analysed."""

from __future__ import annotations

import threading

from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.pipeline.render_stage import RenderStage
from cer_desktop.pipeline.results import RecognitionResult, ResultSlot
from cer_desktop.testing.fakes import (
    CollectingSink,
    FakeAnalyzer,
    FixedRecognizer,
    ListSource,
    synthetic_frames,
)


def test_stage_runs_frames_and_calls_in_order_and_survives_a_failure():
    # Given a stage whose render fails on item 2
    done: list[object] = []
    errors: list[tuple[BaseException, tuple]] = []

    def render(i: int) -> None:
        if i == 2:
            raise ValueError("bad frame")
        done.append(i)

    stage = RenderStage(render, lambda exc, args: errors.append((exc, args)), depth=2)
    stage.start()
    # When frames and a call are queued, interleaved
    for i in range(5):
        stage.put(i)
        if i == 1:
            stage.call(lambda: done.append("gap"))
    # Then finish() runs every item in order, reports the failure and ends the thread
    assert stage.finish(timeout=5)
    assert done == [0, 1, "gap", 3, 4]
    assert [(type(e), a) for e, a in errors] == [(ValueError, (2,))]


def test_put_gives_up_when_the_loop_stops_and_the_stage_is_stuck():
    # Given a stage stuck in its first item, with its queue full
    release = threading.Event()
    stage = RenderStage(lambda i: release.wait(10), lambda *a: None, depth=1)
    stage.start()
    stop = threading.Event()
    stage.put(0)
    stage.put(1)  # fills the queue while 0 is being rendered
    # When the loop stops while waiting for room
    stop.set()
    # Then the put returns without queueing instead of hanging the capture thread
    assert stage.put(2, stop=stop) is False
    # and finishing a stuck stage gives up after its timeout instead of hanging
    assert stage.finish(timeout=0.2) is False
    release.set()
    assert stage.finish(timeout=5)


def test_result_slot_gives_no_later_frame_than_asked():
    slot = ResultSlot()
    for fid in (3, 5, 6):
        assert slot.offer(RecognitionResult(fid, (), RAF_BASIC, "fixed", 0.0))
    assert slot.offer(RecognitionResult(4, (), RAF_BASIC, "fixed", 0.0)) is False  # older: refused
    assert slot.up_to(5).frame_id == 5
    assert slot.up_to(4).frame_id == 3
    assert slot.up_to(2) is None
    assert slot.get().frame_id == 6


class _HandshakeAnalyzer(FakeAnalyzer):
    """Analysing frame N+1 waits until frame N's delivery has begun: a loop that paints and
    delivers on the capture thread can never get there (it would wait for itself)."""

    def __init__(self, delivering: dict[int, threading.Event]) -> None:
        super().__init__()
        self.delivering = delivering
        self.overlapped = 0

    def process(self, frame):  # noqa: ANN001 - a Frame
        prev = self.delivering.get(frame.frame_id - 1)
        if prev is not None and prev.wait(2.0):
            self.overlapped += 1
        return super().process(frame)


class _HoldingSink(CollectingSink):
    """Signals that frame N's delivery began, then holds it until frame N+1 was analysed."""

    def __init__(self, delivering: dict[int, threading.Event], analyzer: FakeAnalyzer) -> None:
        super().__init__()
        self.delivering = delivering
        self.analyzer = analyzer

    def submit(self, annotation, painted):  # noqa: ANN001
        fid = annotation.frame.frame_id
        seen = self.analyzer.calls
        self.delivering[fid].set()
        # hold until the next frame has been analysed (or give up after 2 s: serial loop)
        for _ in range(200):
            if self.analyzer.calls > seen or fid == 9:
                break
            threading.Event().wait(0.01)
        return super().submit(annotation, painted)


def test_live_loop_analyses_the_next_frame_while_this_one_is_delivered():
    # Given a live pipeline whose analyzer and sink each wait for the other's previous step
    frames = synthetic_frames(10)
    delivering = {i: threading.Event() for i in range(10)}
    analyzer = _HandshakeAnalyzer(delivering)
    sink = _HoldingSink(delivering, analyzer)
    p = Pipeline(
        ListSource(frames),
        analyzer,
        FixedRecognizer(top="Anger"),
        RAF_BASIC,
        sinks=[sink],
        pace_files=False,
    )
    # When it runs to the end of the source
    p.start()
    p.join(timeout=60)
    p.stop()
    # Then every frame after the first was analysed while the previous one was delivered,
    # and every frame still reached the sink, in order
    assert analyzer.overlapped == 9
    assert sink.frame_ids == list(range(10))


def test_a_frame_never_shows_a_label_computed_for_a_later_frame():
    # Given a live pipeline with a fast recognizer and a delivery slower than the analysis
    frames = synthetic_frames(40)
    sink = CollectingSink()
    slow_paint = threading.Event()

    class _Slow(CollectingSink):
        def submit(self, annotation, painted):  # noqa: ANN001
            slow_paint.wait(0.01)
            return sink.submit(annotation, painted)

    p = Pipeline(
        ListSource(frames),
        FakeAnalyzer(),
        FixedRecognizer(top="Anger"),
        RAF_BASIC,
        sinks=[_Slow()],
        pace_files=False,
        smoothing=0.0,
    )
    p.start()
    p.join(timeout=60)
    p.stop()
    # Then each painted prediction was computed for that frame or an earlier one
    assert sink.frame_ids == list(range(40))
    labelled = [(a.frame.frame_id, a.faces[0].prediction) for a, _ in sink.items]
    labelled = [(fid, pred.frame_id) for fid, pred in labelled if pred is not None]
    assert len(labelled) >= 30, "most frames should carry a label"
    assert all(pred_id <= fid for fid, pred_id in labelled), labelled
