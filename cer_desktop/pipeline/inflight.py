"""Offline recognition with several requests in flight, results handed back in frame order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from cer_desktop.contracts import Face, Frame, Recognizer
from cer_desktop.pipeline.results import RecognitionResult
from cer_desktop.pipeline.worker import RecognitionRequest

Run = Callable[[RecognitionRequest], RecognitionResult | None]
Done = tuple[Frame, list[Face], RecognitionResult | None]


def concurrency_of(recognizer: Recognizer) -> int:
    """How many calls `recognizer` serves at once: its `max_concurrent_requests` attribute
    (e.g. a remote recognizer whose server batches requests), 1 when it does not say."""
    try:
        return max(1, int(getattr(recognizer, "max_concurrent_requests", 1) or 1))
    except (TypeError, ValueError):
        return 1


class InOrderRequests:
    """Runs up to `in_flight` recognizer requests at once on a thread pool (`cer-offline-*`)
    and hands results back in the order they were submitted (frame order), whatever order
    they finish in. With `in_flight == 1` each request runs in the calling thread.

    `submit()` returns the items now due in order; `drain()` the rest at the end. `close()`
    waits for running calls and cancels the ones not started.
    """

    def __init__(self, run: Run, in_flight: int) -> None:
        self.in_flight = max(1, int(in_flight))
        self._run = run
        self._pool = (
            ThreadPoolExecutor(self.in_flight, "cer-offline") if self.in_flight > 1 else None
        )
        self._pending: deque[tuple[Frame, list[Face], Future[RecognitionResult | None] | None]]
        self._pending = deque()

    def submit(
        self, frame: Frame, faces: list[Face], request: RecognitionRequest | None
    ) -> list[Done]:
        """Queue one frame (request None: no face, nothing to recognise)."""
        if self._pool is None:
            return [(frame, faces, self._run(request) if request is not None else None)]
        future = self._pool.submit(self._run, request) if request is not None else None
        self._pending.append((frame, faces, future))
        due = []
        while len(self._pending) >= self.in_flight:
            due.append(self._take())
        return due

    def drain(self) -> Iterator[Done]:
        """The remaining items, in order (waits for each)."""
        while self._pending:
            yield self._take()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def _take(self) -> Done:
        frame, faces, future = self._pending.popleft()
        return frame, faces, future.result() if future is not None else None
