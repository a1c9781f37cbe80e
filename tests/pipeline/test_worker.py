"""The recognizer worker: one pending request, newest wins, errors surfaced, fallback."""

from __future__ import annotations

import pytest

from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.results import RecognitionResult, ResultSlot
from cer_desktop.pipeline.worker import RecognitionRequest, RecognizerWorker, RequestPolicy
from cer_desktop.testing.fakes import FailingRecognizer, FixedRecognizer, GatedRecognizer, make_face


def request(frame_id: int) -> RecognitionRequest:
    return RecognitionRequest(frame_id, (make_face(frame_id),), RAF_BASIC)


@pytest.fixture
def gated():
    r = GatedRecognizer()
    yield r
    r.close()


def test_newest_request_replaces_the_pending_one(gated):
    # Given a worker busy on frame 1 (the recognizer holds until released)
    results: list[int] = []
    w = RecognizerWorker(gated, on_result=lambda r: results.append(r.frame_id))
    w.start()
    try:
        w.submit(request(1))
        assert gated.started.wait(5), "the worker never started the first request"
        # When frames 2, 3 and 4 arrive while it is busy
        replaced = [w.submit(request(i)) for i in (2, 3, 4)]
        gated.release(2)
        assert w.wait_idle(5)
    finally:
        w.stop()
    # Then only the newest pending request (4) ran after 1; 2 and 3 were replaced and counted
    assert w.policy is RequestPolicy.ONE_PENDING_NEWEST_WINS
    assert gated.seen == [1, 4], f"recognizer saw frames {gated.seen}"
    assert replaced == [False, True, True]
    assert w.stats.replaced == 2
    assert results == [1, 4]
    assert w.latest().frame_id == 4


def test_result_slot_never_goes_back_in_time():
    slot = ResultSlot()

    def result(fid: int) -> RecognitionResult:
        return RecognitionResult(fid, (), RAF_BASIC, "x", 1.0)

    assert slot.offer(result(5))
    assert not slot.offer(result(3)), "an older result must not replace a newer one"
    assert not slot.offer(result(5))
    assert slot.get().frame_id == 5
    assert slot.offer(result(6))
    assert slot.get().frame_id == 6


def test_exception_is_reported_and_fallback_answers():
    # Given a failing main recognizer and a fixed fallback
    errors: list[str] = []
    fallback = FixedRecognizer(top="Happiness", name="instant")
    w = RecognizerWorker(
        FailingRecognizer("out of memory"),
        fallback=fallback,
        on_error=lambda e, n: errors.append(f"{n}: {e}"),
    )
    w.start()
    try:
        # When a request is made
        w.submit(request(7))
        assert w.wait_idle(5)
        # Then the error is surfaced, the fallback's answer is the result, and the worker lives on
        assert errors == ["failing: out of memory"]
        r = w.latest()
        assert r is not None and r.used_fallback and r.recognizer == "instant"
        assert r.predictions[0].top_label == "Happiness"
        assert "out of memory" in r.error
        w.submit(request(8))
        assert w.wait_idle(5)
        assert w.latest().frame_id == 8, "the worker must keep going after an error"
        assert w.alive
    finally:
        w.stop()
    assert w.stats.errors == 2 and w.stats.fallback_calls == 2


def test_exception_without_fallback_gives_no_result():
    errors: list[Exception] = []
    w = RecognizerWorker(FailingRecognizer(), on_error=lambda e, n: errors.append(e))
    w.start()
    w.submit(request(1))
    assert w.wait_idle(5)
    w.stop()
    assert w.latest() is None
    assert len(errors) == 1


def test_stop_joins_the_thread_and_set_recognizer_closes_the_old_one():
    old, new = FixedRecognizer(name="old"), FixedRecognizer(name="new")
    w = RecognizerWorker(old)
    w.start()
    w.set_recognizer(new)
    w.submit(request(1))
    assert w.wait_idle(5)
    w.stop()
    assert not w.alive, "stop() must join the worker thread"
    assert old.closed, "the replaced recognizer is closed by the worker"
    assert w.latest().recognizer == "new"
    assert w.stats.latency_ms_median >= 0.0 and w.stats.calls == 1
    assert not w.submit(request(2)), "a stopped worker accepts nothing"


def test_run_sync_uses_the_same_error_path():
    w = RecognizerWorker(FailingRecognizer(), fallback=FixedRecognizer(name="fb"))
    r = w.run_sync(request(3))
    assert r is not None and r.used_fallback
    assert not w.alive, "offline use must not start a thread"


class _ClosableRecognizer(FixedRecognizer):
    """Fails like a real model does once closed."""

    def predict(self, faces, label_set):
        if self.closed:
            raise RuntimeError("recognizer was closed")
        return super().predict(faces, label_set)


def test_a_recognizer_swapped_while_a_request_starts_is_not_closed_under_it():
    # given a worker whose lock calls back the moment the worker thread leaves the critical
    # section where it took a request and the recognizer to run it with (the race window):
    # there the window swaps the recognizer, as a user switching models would
    import threading

    errors: list[str] = []
    first, second = _ClosableRecognizer(name="first"), _ClosableRecognizer(name="second")
    w = RecognizerWorker(first, on_error=lambda exc, name: errors.append(str(exc)))

    class SwapOnLeave(threading.Condition):
        armed = True

        def __exit__(self, *exc):
            out = super().__exit__(*exc)
            if self.armed and threading.current_thread() is w._thread and w._busy:
                self.armed = False
                w.set_recognizer(second)
            return out

    w._cond = SwapOnLeave()
    w.start()
    # when a request arrives
    w.submit(request(1))
    assert w.wait_idle(5)
    w.stop()
    # then it ran on the recognizer taken for it, which was closed only afterwards
    assert not w._cond.armed, "the swap never happened"
    assert errors == [], f"the request ran on a closed recognizer: {errors}"
    assert w.latest() is not None and w.latest().recognizer == "first"
    assert first.closed, "the replaced recognizer is still closed once it is not in use"
    assert not second.closed
