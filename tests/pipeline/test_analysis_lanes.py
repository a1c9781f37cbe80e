"""Analysis lanes: consecutive frames' faces found at once, everything after in frame order."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.contracts import Frame
from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.analysis_lanes import AnalysisLanes
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.pipeline.processor import FrameProcessor
from cer_desktop.testing.fakes import (
    CollectingSink,
    FakeAnalyzer,
    FixedRecognizer,
    ListSource,
    make_face,
    synthetic_frames,
)


def _frame(frame_id: int, image: np.ndarray) -> Frame:
    return Frame(frame_id, time.monotonic(), datetime.now(UTC), image)


class _Stages:
    """find(i) waits until find(i+1) has begun (a one-lane or serial runner never gets there:
    it would wait for itself), then takes a while that differs per frame, so frames finish
    out of order; frame `bad_find` fails in find, `bad_track` in track."""

    def __init__(self, n: int, bad_find: int = -1, bad_track: int = -1) -> None:
        self.n = n
        self.begun = {i: threading.Event() for i in range(n)}
        self.overlapped = 0
        self.lanes_used: set[int] = set()
        self.bad_find, self.bad_track = bad_find, bad_track
        self.lock = threading.Lock()

    def find(self, frame: int, lane: int) -> tuple[int, int]:
        self.begun[frame].set()
        with self.lock:
            self.lanes_used.add(lane)
        nxt = self.begun.get(frame + 1)
        if nxt is not None and nxt.wait(2.0):
            with self.lock:
                self.overlapped += 1
        time.sleep(0.002 * ((frame * 7) % 5))
        if frame == self.bad_find:
            raise ValueError(f"find {frame}")
        return frame, lane

    def track(self, frame: int, found: int) -> tuple[int, str]:
        if frame == self.bad_track:
            raise KeyError(f"track {frame}")
        return frame, f"tracked {found}"


def test_frames_are_found_at_once_and_go_on_in_order_with_failures_in_their_place():
    # Given two lanes, and frames whose finding overlaps and ends out of order
    n = 12
    stages = _Stages(n, bad_find=4, bad_track=7)
    went: list[object] = []
    errors: list[tuple[str, tuple]] = []
    lanes = AnalysisLanes(
        stages, lambda f, what: went.append(f), lambda e, a: errors.append((str(e), a)), 2
    )
    lanes.start()
    # When frames and a call are queued, interleaved
    for i in range(n):
        assert lanes.put(i)
        if i == 5:
            lanes.call(lambda: went.append("gap"))
    assert lanes.finish(timeout=10)
    # Then each frame's finding overlapped the next one's, on both lanes,
    assert stages.overlapped == n - 1
    assert stages.lanes_used == {0, 1}
    # and the frames went on in the order they were read, the call among them, the two
    # failures reported in their place and the frames after them unharmed
    assert went == [0, 1, 2, 3, 5, "gap", 6, 8, 9, 10, 11]
    assert errors == [("find 4", (4,)), ("'track 7'", (7,))]


def test_put_and_finish_give_up_when_a_lane_is_stuck():
    # Given two lanes, one stuck passing frame 0 on; the other finds on and sets frames aside
    release = threading.Event()
    stages = _Stages(0)
    stages.begun = {i: threading.Event() for i in range(8)}  # find returns at once
    went: list[int] = []
    lanes = AnalysisLanes(
        stages, lambda f, what: (release.wait(10), went.append(f)), lambda *a: None, 2
    )
    lanes.start()
    stop = threading.Event()
    for i in range(5):  # five in flight: 0 stuck, 1-4 found and set aside
        assert lanes.put(i)
    stop.set()
    # Then a put beyond them returns instead of hanging the capture thread, and so does finish()
    assert lanes.put(5, stop=stop) is False
    assert lanes.finish(timeout=0.2) is False
    release.set()
    assert lanes.finish(timeout=5)
    assert went == [0, 1, 2, 3, 4]  # the frames set aside went on, in order


def test_a_slow_frame_does_not_hold_up_finding_the_next_ones():
    # Given two lanes, and frame 0 whose finding waits until frame 3 has been found
    found: dict[int, threading.Event] = {i: threading.Event() for i in range(6)}
    waited_out: list[bool] = []

    class Slow:
        def find(self, frame: int, lane: int) -> tuple[int, int]:
            if frame == 0:
                waited_out.append(found[3].wait(5.0))
            found[frame].set()
            return frame, lane

        def track(self, frame: int, lane: int) -> tuple[int, int]:
            return frame, lane

    went: list[int] = []
    lanes = AnalysisLanes(Slow(), lambda f, lane: went.append(f), lambda *a: None, 2)
    lanes.start()
    for i in range(6):
        assert lanes.put(i)
    assert lanes.finish(timeout=10)
    # Then the other lane found 1, 2 and 3 meanwhile (it did not wait for 1's turn),
    # and every frame still went on in the order it was read
    assert waited_out == [True]
    assert went == [0, 1, 2, 3, 4, 5]


class _LaneAnalyzer(FakeAnalyzer):
    """A fake analyzer with two lanes: `find` records its lane's thread, `track` the order."""

    lanes = 2

    def __init__(self) -> None:
        super().__init__(boxes=((100, 100, 120, 120), (300, 100, 120, 120)))
        self.found_on: set[str] = set()
        self.tracked: list[int] = []

    def find(self, frame: Frame, lane: int) -> int:
        self.found_on.add(threading.current_thread().name)
        time.sleep(0.003 * (frame.frame_id % 3))  # frames finish out of order
        return frame.frame_id

    def track(self, frame: Frame, found: int) -> list:
        assert found == frame.frame_id
        self.tracked.append(found)
        return [make_face(frame.frame_id, i + 1, b) for i, b in enumerate(self.boxes)]


def test_live_pipeline_with_lanes_keeps_frame_order_from_tracking_to_the_sinks():
    # Given a live pipeline on an analyzer of two lanes
    analyzer = _LaneAnalyzer()
    sink = CollectingSink()
    p = Pipeline(
        ListSource(synthetic_frames(30)),
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
    # Then faces were found on both lane threads, tracked and delivered in frame order,
    # every frame with its two faces, and no lane thread is left (fixture)
    assert analyzer.found_on == {"cer-analysis-0", "cer-analysis-1"}
    assert analyzer.tracked == list(range(30))
    assert sink.frame_ids == list(range(30))
    assert all(len(a.faces) == 2 for a, _ in sink.items)
    assert p.stats.frames_captured == 30


def test_a_swapped_analyzer_leaves_the_frames_it_found_to_its_own_tracker():
    # Given a processor whose analyzer found a frame, then was replaced
    old, new = _LaneAnalyzer(), _LaneAnalyzer()
    proc = FrameProcessor(old, RAF_BASIC, lambda *a, **k: None)
    frame = _frame(5, np.zeros((48, 64, 3), np.uint8))
    frame, found = proc.find(frame, 1)
    assert proc.replace_analyzer(new) is old
    # When that frame is tracked
    _, faces, extra = proc.track(frame, found)
    # Then the analyzer that found it tracks it; the new one starts with the next frame
    assert old.tracked == [5] and new.tracked == []
    assert len(faces) == 2 and extra == 0
    assert proc.lanes() == 2
    assert FrameProcessor(FakeAnalyzer(), RAF_BASIC, lambda *a, **k: None).lanes() == 1


def test_two_mediapipe_lanes_find_the_faces_one_lane_finds():
    # Given two-face frames, and the real analyzer with one lane and with two
    from cer_desktop.bench.vision import _frames
    from cer_desktop.vision.analyzer import FaceAnalyzer

    frames = [_frame(i, img) for i, img in enumerate(_frames(2, 16))]
    with FaceAnalyzer(max_faces=2) as one, FaceAnalyzer(max_faces=2, lanes=2) as two:
        serial = [one.process(f) for f in frames]
        # When the two lanes find alternate frames at once (one thread each) and the
        # frames are tracked in order
        found: dict[int, object] = {}

        def lane(k: int) -> None:
            for f in frames[k::2]:
                found[f.frame_id] = two.find(f, k)

        threads = [threading.Thread(target=lane, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        both = [two.track(f, found[f.frame_id]) for f in frames]  # type: ignore[arg-type]
    # Then every frame has the same two faces with the same track ids, at the same place
    assert [[f.track_id for f in faces] for faces in serial] == [[1, 2]] * len(frames)
    assert [[f.track_id for f in faces] for faces in both] == [[1, 2]] * len(frames)
    for a, b in zip(serial, both, strict=True):
        for fa, fb in zip(a, b, strict=True):
            assert np.abs(np.subtract(fa.box, fb.box)).max() <= 6, (fa.box, fb.box)
            assert fb.aligned.shape == fa.aligned.shape
