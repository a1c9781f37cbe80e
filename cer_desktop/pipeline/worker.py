"""The recognizer worker: one thread, one pending request, the newest request wins.

Policy `RequestPolicy.ONE_PENDING_NEWEST_WINS`: while the recognizer is busy with one request, at most one
more waits; a newer request replaces the waiting one (the replaced request is counted in
`stats.replaced`, never silently lost). Results carry the `frame_id` they were computed on and
the newest-result slot refuses anything older than what it holds, so an old result is never
painted over a newer one.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cer_desktop.contracts import Face, Prediction, Recognizer
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline import gc_pause
from cer_desktop.pipeline.results import RecognitionResult, ResultSlot
from cer_desktop.pipeline.sinks import RequestPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecognitionRequest:
    """All faces of one frame, to be recognised over one label set."""

    frame_id: int
    faces: tuple[Face, ...]
    label_set: LabelSet
    t_submit: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """A snapshot of the worker's counters."""

    submitted: int
    calls: int
    replaced: int  # pending requests replaced by a newer one (dropped by policy)
    errors: int
    fallback_calls: int
    latency_ms_median: float
    latency_ms_last: float
    recognizer: str
    busy: bool


ErrorCallback = Callable[[Exception, str], None]
ResultCallback = Callable[[RecognitionResult], None]


class RecognizerWorker:
    """Runs a `Recognizer` on its own thread with policy `RequestPolicy.ONE_PENDING_NEWEST_WINS`.

    `submit()` never blocks. Exceptions from the recognizer are caught, passed to
    `on_error(exc, recognizer_name)` and, when a `fallback` recognizer is given, the same
    request is answered by it instead (the result says `used_fallback`). `stop()` asks the
    thread to end and joins it; a call in progress finishes first, or is cancelled when its
    recognizer can be (`cancel()`: a remote server's requests).
    """

    policy = RequestPolicy.ONE_PENDING_NEWEST_WINS

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        fallback: Recognizer | None = None,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        name: str = "cer-recognizer",
        close_replaced: bool = True,
    ) -> None:
        self._recognizer = recognizer
        self._fallback = fallback
        self._on_result = on_result
        self._on_error = on_error
        self._close_replaced = close_replaced
        self._cond = threading.Condition()
        self._pending: RecognitionRequest | None = None
        self._stop = False
        self._busy = False
        self._running: Recognizer | None = None  # the recognizer of the call in progress
        self._to_close: list[Recognizer] = []
        self.results = ResultSlot()
        self._latencies: deque[float] = deque(maxlen=200)
        self._submitted = 0
        self._calls = 0
        self._replaced = 0
        self._errors = 0
        self._fallback_calls = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._started = False

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self, timeout: float | None = 30.0, *, wait: bool = True) -> None:
        """Ask the thread to end after its current call and (with `wait`) join it. Safe to
        call twice. Without `wait` it returns at once; `join()` waits for it later."""
        with self._cond:
            self._stop = True
            self._pending = None
            running = self._running if self._busy else None
            self._cond.notify_all()
        cancel = getattr(running, "cancel", None)  # a remote server's requests end now
        if callable(cancel):
            try:
                cancel()
            except Exception:  # noqa: BLE001 - the call then ends at its own deadline
                log.exception("cancelling the recognizer call failed")
        if wait and not self.join(timeout):
            log.warning("recognizer worker did not stop within %.0f s", timeout or 0)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after `stop`); True when it has ended."""
        if (
            self._started
            and self._thread.is_alive()
            and self._thread is not threading.current_thread()
        ):
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def recognizer(self) -> Recognizer:
        return self._recognizer

    def set_recognizer(self, recognizer: Recognizer) -> None:
        """Use `recognizer` from the next request on; the old one is closed by the worker
        thread once it is no longer in use (when `close_replaced`)."""
        with self._cond:
            old = self._recognizer
            self._recognizer = recognizer
            if old is not recognizer and self._close_replaced:
                self._to_close.append(old)
            self._cond.notify_all()
        if not self._started or not self._thread.is_alive():
            with self._cond:
                closable = self._take_closable()
            _close_all(closable)

    @property
    def fallback(self) -> Recognizer | None:
        return self._fallback

    def set_fallback(self, fallback: Recognizer | None) -> None:
        """Answer with `fallback` when the main recognizer raises (None = no fallback)."""
        with self._cond:
            self._fallback = fallback

    def submit(self, request: RecognitionRequest) -> bool:
        """Queue `request`; returns True if it replaced a pending (older) request."""
        with self._cond:
            if self._stop:
                return False
            replaced = self._pending is not None
            if replaced:
                self._replaced += 1
            self._pending = request
            self._submitted += 1
            self._cond.notify_all()
        return replaced

    def run_sync(self, request: RecognitionRequest) -> RecognitionResult | None:
        """Recognise `request` in the calling thread (offline use; the thread is not needed).

        Same error handling and fallback as the threaded path; the result is offered to
        `results` and returned (None when the recognizer and its fallback both failed).
        """
        with self._cond:
            recognizer, fallback = self._recognizer, self._fallback
            self._submitted += 1
            closable = self._take_closable()
        _close_all(closable)
        result = self._run(recognizer, fallback, request)
        if result is not None:
            self.results.offer(result)
        return result

    def wait_result(self, frame_id: int, timeout: float) -> RecognitionResult | None:
        """Wait up to `timeout` s for the result of `frame_id` (or newer); None if not there."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                r = self.results.get()
                if r is not None and r.frame_id >= frame_id:
                    return r
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return None
                self._cond.wait(left)

    # -- state ---------------------------------------------------------------------------
    def latest(self) -> RecognitionResult | None:
        """The newest result so far (by frame_id)."""
        return self.results.get()

    @property
    def stats(self) -> WorkerStats:
        with self._cond:
            lat = list(self._latencies)
            return WorkerStats(
                submitted=self._submitted,
                calls=self._calls,
                replaced=self._replaced,
                errors=self._errors,
                fallback_calls=self._fallback_calls,
                latency_ms_median=statistics.median(lat) if lat else 0.0,
                latency_ms_last=lat[-1] if lat else 0.0,
                recognizer=getattr(self._recognizer, "name", type(self._recognizer).__name__),
                busy=self._busy,
            )

    def idle(self) -> bool:
        """True when nothing is pending and no call is running."""
        with self._cond:
            return self._pending is None and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the worker is idle (for tests and offline draining)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    # -- thread --------------------------------------------------------------------------
    def _take_closable(self) -> list[Recognizer]:
        """The replaced recognizers to close now; call with `_cond` held.

        Taken in the same critical section as the recognizer about to run, so a swap that
        lands after it only queues that recognizer for the next round (closed after its
        call). One swapped back in (current or fallback) is in use again and never closed.
        """
        in_use = (self._recognizer, self._fallback)
        old = [r for r in self._to_close if not any(r is u for u in in_use)]
        self._to_close = []
        return old

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop and not self._to_close:
                    self._cond.wait()
                if self._stop:
                    break
                request, self._pending = self._pending, None
                recognizer = self._running = self._recognizer
                fallback = self._fallback
                self._busy = request is not None
                closable = self._take_closable()
            if closable:
                _close_all(closable)
                del closable[:]  # the worker's last references to the replaced recognizers
                gc_pause.thaw()  # their reference cycles (a model's memory) can be freed
            if request is None:
                continue
            try:
                result = self._run(recognizer, fallback, request)
                if result is not None and self.results.offer(result) and self._on_result:
                    self._on_result(result)
            except Exception:  # a callback bug must not end the worker
                log.exception("recognizer worker callback failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        with self._cond:
            closable = self._take_closable()
        _close_all(closable)

    def _run(
        self, recognizer: Recognizer, fallback: Recognizer | None, request: RecognitionRequest
    ) -> RecognitionResult | None:
        name = getattr(recognizer, "name", type(recognizer).__name__)
        t0 = time.perf_counter()
        try:
            preds = recognizer.predict(request.faces, request.label_set)
            _check(preds, request)
        except Exception as exc:  # any failure: report it and keep going
            with self._cond:
                if self._stop:  # cancelled by stop(): nobody will see this frame's labels
                    return None
                self._errors += 1
            log.warning("recognizer %s failed: %s", name, exc)
            if self._on_error:
                try:
                    self._on_error(exc, name)
                except Exception:
                    log.exception("on_error callback failed")
            if fallback is None or fallback is recognizer:
                return None
            fb_name = getattr(fallback, "name", type(fallback).__name__)
            t1 = time.perf_counter()
            try:
                preds = fallback.predict(request.faces, request.label_set)
                _check(preds, request)
            except Exception as exc2:
                log.warning("fallback recognizer %s failed too: %s", fb_name, exc2)
                if self._on_error:
                    try:
                        self._on_error(exc2, fb_name)
                    except Exception:
                        log.exception("on_error callback failed")
                return None
            ms = (time.perf_counter() - t1) * 1000.0
            with self._cond:
                self._fallback_calls += 1
            return RecognitionResult(
                request.frame_id,
                tuple(preds),
                request.label_set,
                fb_name,
                ms,
                error=f"{type(exc).__name__}: {exc}",
                used_fallback=True,
            )
        ms = (time.perf_counter() - t0) * 1000.0
        with self._cond:
            self._calls += 1
            self._latencies.append(ms)
        return RecognitionResult(request.frame_id, tuple(preds), request.label_set, name, ms)


def _close_all(recognizers: Sequence[Recognizer]) -> None:
    for r in recognizers:
        try:
            r.close()
        except Exception:  # closing must never kill the worker
            log.exception("closing recognizer %r failed", getattr(r, "name", r))


def _check(preds: Sequence[Prediction], request: RecognitionRequest) -> None:
    if len(preds) != len(request.faces):
        raise RuntimeError(
            f"recognizer returned {len(preds)} predictions for {len(request.faces)} faces"
        )
