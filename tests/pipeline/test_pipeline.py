"""The pipeline, live and offline, with fake sources, analyzers and recognizers."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.contracts import Prediction, Severity, StatusEvent, StatusKind
from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.pipeline.pipeline import NO_FACE, EndReason, Pipeline
from cer_desktop.testing.fakes import (
    CollectingSink,
    DroppingSink,
    FailingRecognizer,
    FakeAnalyzer,
    FixedRecognizer,
    GatedRecognizer,
    ListSource,
    synthetic_frames,
)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synthetic_frames(30)


def no_pipeline_threads() -> bool:
    return not any(t.name.startswith("cer-") and t.is_alive() for t in threading.enumerate())


def test_offline_processes_every_frame(frames):
    # Given an offline pipeline over a finite source
    sink = CollectingSink()
    rec = FixedRecognizer(top="Happiness")
    p = Pipeline(ListSource(frames), FakeAnalyzer(), rec, RAF_BASIC, offline=True, sinks=[sink])
    # When it runs
    stats = p.run()
    # Then every frame was recognised, painted and handed to the sink, all fresh
    assert sink.frame_ids == list(range(len(frames)))
    assert rec.calls == len(frames)
    assert stats.frames_captured == stats.frames_painted == len(frames)
    for ann, painted in sink.items:
        fa = ann.faces[0]
        assert fa.fresh and fa.prediction.frame_id == ann.frame.frame_id
        assert fa.prediction.top_label == "Happiness"
        assert painted.shape == (480, 640, 3)
        assert not np.array_equal(painted, ann.frame.image), "nothing was painted"
    assert no_pipeline_threads()


def test_live_with_slow_recognizer_delivers_every_frame_to_sinks(frames):
    # Given a recognizer that holds its first call until released, and a live pipeline
    gated = GatedRecognizer(top="Anger")
    sink = CollectingSink()
    displayed: list[int] = []
    done = threading.Event()

    def on_display(ann, painted):
        displayed.append(ann.frame.frame_id)

    p = Pipeline(
        ListSource(frames),
        FakeAnalyzer(),
        gated,
        RAF_BASIC,
        sinks=[sink],
        on_display=on_display,
        on_end=lambda reason, event: done.set(),
        pace_files=False,
    )
    p.start()
    # When the whole source is read while the recognizer is stuck on frame 0
    assert done.wait(10), "the live loop never reached the end of the source"
    gated.release(10)
    p.join(5)
    p.stop()
    # Then every frame still reached the sink, no prediction was painted, and all threads ended
    assert sink.frame_ids == list(range(len(frames))), "the slow recognizer stalled the sink"
    assert all(ann.faces[0].prediction is None for ann, _ in sink.items)
    # (which frame it got stuck on is timing: unpaced, the capture loop runs ahead of it)
    assert gated.seen and gated.seen == sorted(gated.seen)
    assert p.stats.recognizer_replaced > 0, "newer requests should have replaced pending ones"
    assert displayed, "the display got nothing"
    assert no_pipeline_threads(), [t.name for t in threading.enumerate()]


def test_live_carries_predictions_over_and_marks_freshness(frames):
    # Given a fast fixed recognizer
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames),
        FakeAnalyzer(),
        FixedRecognizer(top="Fear"),
        RAF_BASIC,
        sinks=[sink],
        pace_files=False,
        smoothing=0.0,
    )
    p.start()
    p.join(10)
    p.stop()
    # Then after the first result every frame shows a prediction never newer than the frame
    with_pred = [(a.frame.frame_id, a.faces[0]) for a, _ in sink.items if a.faces[0].prediction]
    assert with_pred, "no prediction was ever attached"
    for fid, fa in with_pred:
        assert fa.prediction.frame_id <= fid
        assert fa.fresh == (fa.prediction.frame_id == fid)
        # the label's age is the capture-time distance to the frame it was computed on
        t_of = {a.frame.frame_id: a.frame.t_capture for a, _ in sink.items}
        expected = (t_of[fid] - t_of[fa.prediction.frame_id]) * 1000.0
        assert fa.age_ms == pytest.approx(expected), (fid, fa.prediction.frame_id)
        assert fa.prediction.top_label == "Fear"
    ids = [fa.prediction.frame_id for _, fa in with_pred]
    assert ids == sorted(ids), "an older prediction was painted after a newer one"


def test_source_error_stops_the_loop_with_a_message(frames):
    messages: list[StatusEvent] = []
    ended: list[EndReason] = []
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames, fail_at=5),
        FakeAnalyzer(),
        FixedRecognizer(),
        RAF_BASIC,
        sinks=[sink],
        on_status=messages.append,
        on_end=lambda reason, event: ended.append(reason),
        pace_files=False,
    )
    p.start()
    p.join(10)
    assert not p.running
    p.stop()
    assert sink.frame_ids == [0, 1, 2, 3, 4]
    # a file source that fails mid-way is a source error (a live one would be SOURCE_LOST)
    (event,) = [m for m in messages if m.kind is StatusKind.SOURCE_ERROR]
    assert "stopped delivering" in event.message and event.severity is Severity.ERROR
    assert ended == [EndReason.SOURCE_ERROR], "on_end is called once, with the reason"
    assert p.stats.end_reason is EndReason.SOURCE_ERROR
    assert "stopped delivering" in p.stats.last_error
    assert no_pipeline_threads()


def test_unopenable_source_gives_a_message_offline():
    class Broken(ListSource):
        def _open(self):
            from cer_desktop.capture.base import SourceError

            raise SourceError("camera 7 does not exist")

    messages: list[StatusEvent] = []
    p = Pipeline(
        Broken([]),
        FakeAnalyzer(),
        FixedRecognizer(),
        RAF_BASIC,
        offline=True,
        on_status=messages.append,
    )
    stats = p.run()
    assert "camera 7 does not exist" in stats.last_error
    assert stats.end_reason is EndReason.SOURCE_ERROR
    assert messages[-1].kind is StatusKind.SOURCE_ERROR and "camera 7" in messages[-1].message


def test_recognizer_exception_gives_message_and_fallback(frames):
    messages: list[StatusEvent] = []
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames[:5]),
        FakeAnalyzer(),
        FailingRecognizer("CUDA out of memory"),
        RAF_BASIC,
        offline=True,
        sinks=[sink],
        fallback=FixedRecognizer(top="Sadness", name="instant"),
        on_status=messages.append,
    )
    stats = p.run()
    fallbacks = [m for m in messages if m.kind is StatusKind.RECOGNIZER_FALLBACK]
    assert fallbacks and "CUDA out of memory" in fallbacks[0].message, messages
    assert fallbacks[0].payload["error"] == "RecognizerError"
    assert stats.recognizer_errors == 5 and stats.fallback_calls == 5
    labels = {ann.faces[0].prediction.top_label for ann, _ in sink.items}
    assert labels == {"Sadness"}, "the fallback's predictions should be painted"
    assert {ann.faces[0].prediction.recognizer for ann, _ in sink.items} == {"instant"}


def test_no_face_frames_get_a_message_and_grey_frames_work():
    grey = [np.full((480, 640), 80, np.uint8) for _ in range(4)]
    messages: list[StatusEvent] = []
    sink = CollectingSink()
    p = Pipeline(
        ListSource(grey),
        FakeAnalyzer(no_face_frames=[1, 2]),
        FixedRecognizer(),
        RAF_BASIC,
        offline=True,
        sinks=[sink],
        on_status=messages.append,
    )
    stats = p.run()
    assert sink.frame_ids == [0, 1, 2, 3]
    assert sink.items[1][0].message == NO_FACE and sink.items[1][0].faces == ()
    assert sink.items[0][1].shape == (480, 640, 3)
    assert stats.frames_without_face == 2
    faces = [m.message for m in messages if m.kind is StatusKind.FACES]
    assert faces == [NO_FACE, ""], "said when the face goes, cleared when it is back"


def test_sink_drops_are_counted_and_label_set_can_change(frames):
    sink = DroppingSink(keep_every=2)
    p = Pipeline(
        ListSource(frames[:10]),
        FakeAnalyzer(),
        FixedRecognizer(),
        RAF_BASIC,
        offline=True,
        sinks=[sink],
    )
    p.set_label_set(RAF_COMPOUND)
    stats = p.run()
    assert stats.frames_dropped_by_sinks == {"DroppingSink": 5}
    assert stats.dropped_total == 5
    assert all(a.label_set is RAF_COMPOUND for a, _ in sink.items)
    assert all(a.faces[0].prediction.label_set is RAF_COMPOUND for a, _ in sink.items)


def test_a_failing_sink_is_removed_and_the_pipeline_goes_on(frames):
    class Broken(CollectingSink):
        name = "recorder"

        def submit(self, annotation, painted):
            raise OSError(28, "No space left on device")

    good = CollectingSink()
    messages: list[StatusEvent] = []
    p = Pipeline(
        ListSource(frames[:4]),
        FakeAnalyzer(),
        FixedRecognizer(),
        RAF_BASIC,
        offline=True,
        sinks=[Broken(), good],
        on_status=messages.append,
    )
    p.run()
    assert good.frame_ids == [0, 1, 2, 3]
    (failed,) = [m for m in messages if m.kind is StatusKind.SINK_FAILED]
    assert "No space left" in failed.message and failed.payload["sink"] == "recorder"
    assert len(p.sinks) == 1


def test_a_values_only_sink_gets_each_frame_before_it_is_painted(frames):
    # Given a sink of painted frames and one that reads only values (`before_paint`, as the
    # live streams are), both writing to one log
    log: list[tuple[str, int]] = []

    class Painted(CollectingSink):
        def submit(self, annotation, painted):
            log.append(("painted", annotation.frame.frame_id))
            return super().submit(annotation, painted)

    class Early(Painted):
        before_paint = True

        def submit(self, annotation, painted):
            log.append(("early", annotation.frame.frame_id))
            return CollectingSink.submit(self, annotation, painted)

    painted, early = Painted(), Early()
    p = Pipeline(
        ListSource(frames[:5]),
        FakeAnalyzer(),
        FixedRecognizer(top="Anger"),
        RAF_BASIC,
        offline=True,
        sinks=[painted, early],
    )
    p.run()
    # Then each frame reaches the values-only sink first, unpainted, with the same values
    assert log == [(k, i) for i in range(5) for k in ("early", "painted")]
    for (a, image), (b, shown) in zip(early.items, painted.items, strict=True):
        assert a is b and a.faces[0].prediction.top_label == "Anger"
        assert np.array_equal(image, a.frame.image)
        assert not np.array_equal(shown, a.frame.image)


def test_live_mode_paces_file_sources_to_their_fps(frames):
    import time

    # Given a 10-frame file-like (not live) source that says 50 fps
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames[:10], fps=50.0),
        FakeAnalyzer(),
        FixedRecognizer(),
        RAF_BASIC,
        sinks=[sink],
    )
    # When it plays live
    t0 = time.monotonic()
    p.start()
    p.join(10)
    elapsed = time.monotonic() - t0
    p.stop()
    # Then it cannot have finished before the 10th frame was due (a lower bound, not a timing)
    assert sink.frame_ids == list(range(10))
    assert elapsed >= 9 / 50.0, f"10 frames at 50 fps played in {elapsed:.3f} s: not paced"


def test_more_faces_than_the_limit_is_said(frames):
    class Crowded(FakeAnalyzer):
        last_dropped_faces = 2

    messages: list[StatusEvent] = []
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames[:3]),
        Crowded(),
        FixedRecognizer(),
        RAF_BASIC,
        offline=True,
        sinks=[sink],
        on_status=messages.append,
    )
    p.run()
    faces = [m.message for m in messages if m.kind is StatusKind.FACES]
    assert faces == ["2 more faces than the limit of 1: only the largest are analysed"], messages
    assert all("more faces" in a.message for a, _ in sink.items)


def test_offline_over_the_real_array_source_with_mixed_layouts(frames):
    sources = importlib.import_module("cer_desktop.capture.sources")
    # Given grey, BGRA and RGB frames in one ArraySource
    grey = frames[0][:, :, 0]
    bgra = np.dstack([frames[1], np.full(frames[1].shape[:2], 255, np.uint8)])
    src = sources.ArraySource([grey, bgra, frames[2], frames[3]])
    sink = CollectingSink()
    rec = FixedRecognizer(top="Surprise")
    # When the offline pipeline runs
    stats = Pipeline(src, FakeAnalyzer(), rec, RAF_BASIC, offline=True, sinks=[sink]).run()
    # Then every frame is processed, recognised and painted as RGB
    assert sink.frame_ids == [0, 1, 2, 3]
    assert rec.calls == 4 and stats.last_error == ""
    assert all(p.shape == (480, 640, 3) for _, p in sink.items)
    assert all(a.faces[0].fresh for a, _ in sink.items)


class ConcurrentRecognizer:
    """Serves several calls at once (as a remote server does); later frames answer sooner, so
    results arrive out of frame order. Records the most calls it saw at the same time."""

    max_concurrent_requests = 4
    name = "remote"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.finished: list[int] = []

    def predict(self, faces, label_set):
        import time

        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        frame_id = faces[0].frame_id
        time.sleep(0.04 * (3 - frame_id % 4))  # frame 4k waits longest, 4k+3 not at all
        with self._lock:
            self.active -= 1
            self.finished.append(frame_id)
        n = len(label_set)
        top = frame_id % n
        probs = tuple(0.9 if i == top else 0.1 / (n - 1) for i in range(n))
        return [
            Prediction(f.track_id, f.frame_id, label_set, probs, recognizer=self.name)
            for f in faces
        ]

    def close(self) -> None:
        pass


def test_offline_runs_several_requests_in_flight_and_delivers_in_frame_order(frames):
    # Given a recognizer that serves 4 calls at once and answers later frames first
    rec = ConcurrentRecognizer()
    sink = CollectingSink()
    p = Pipeline(
        ListSource(frames[:12]),
        FakeAnalyzer(),
        rec,
        RAF_BASIC,
        offline=True,
        sinks=[sink],
        smoothing=0.0,
    )
    # When the offline run allows 4 requests in flight
    stats = p.run(max_in_flight=4)
    # Then calls overlapped and finished out of order, yet the sink got every frame in order,
    # each painted with the prediction computed on that very frame
    assert rec.most_active > 1, "no two requests were ever in flight together"
    assert rec.finished != sorted(rec.finished), "the fake should finish out of order"
    assert sink.frame_ids == list(range(12))
    for ann, _ in sink.items:
        pred = ann.faces[0].prediction
        assert pred is not None and ann.faces[0].fresh, f"frame {ann.frame.frame_id} not fresh"
        assert pred.frame_id == ann.frame.frame_id
    assert stats.recognizer_calls == 12 and stats.end_reason is EndReason.END_OF_SOURCE
    assert no_pipeline_threads(), [t.name for t in threading.enumerate()]


def test_offline_in_flight_is_capped_by_what_the_recognizer_serves(frames):
    # Given a recognizer that does not say it serves concurrent calls (the protocol's default)
    class Counting(ConcurrentRecognizer):
        max_concurrent_requests = 1

    rec = Counting()
    sink = CollectingSink()
    Pipeline(
        ListSource(frames[:6]), FakeAnalyzer(), rec, RAF_BASIC, offline=True, sinks=[sink]
    ).run(max_in_flight=8)
    # Then it is called one request at a time
    assert rec.most_active == 1 and sink.frame_ids == list(range(6))
