"""The live loop's analysis on several threads: consecutive frames analysed at once.

MediaPipe runs one inference thread per instance, and its landmarks are most of a frame's
work: two faces take 20-35 ms on this project's 2-core machine (`cer bench vision`), about a
whole frame's time at 30 fps, on one core. With `lanes` instances (`FaceAnalyzer(lanes=2)`)
frame N+1's faces are found on the second core while frame N's are still being found: the
capture thread reads and hands each frame to the next free lane, and whatever follows the
finding (tracking, the recognizer's request, the render stage's queue) runs strictly in frame
order, on a lane, once every earlier frame has gone on. Track ids,
the recognizer's requests and every sink therefore see frames in the order they were read.

A lane never waits for a slower one: a frame found before its turn is set aside, the lane
takes the next frame, and whichever lane passes on the frame whose turn it is passes on the
frames set aside after it too. So one slow frame (a whole-frame search, a moment the machine
is taken away) holds up only the frames behind it, not the finding of the next ones.

Nothing is dropped here either: at most `in_flight` frames (default twice the lanes, plus
one) are between `put` and passed on, and `put` blocks while that many are, so a slow
analysis slows the capture loop as before, and a live camera then drops frames itself. `call`
queues a function among the frames (a source gap is noted after the frames read before it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

_END = object()


class Stages(Protocol):
    """The analysis split in two (`FrameProcessor.find` / `track`)."""

    def find(self, frame: Any, lane: int) -> tuple[Any, Any]: ...
    def track(self, frame: Any, found: Any) -> tuple[Any, ...]: ...


class AnalysisLanes:
    """`stages.find(frame, lane)` on `lanes` threads ("cer-analysis-K"); then, in the order
    the frames were `put`, `go_on(*stages.track(*found))`."""

    def __init__(
        self,
        stages: Stages,
        go_on: Callable[..., None],
        on_error: Callable[[BaseException, tuple[Any, ...]], None],
        lanes: int = 2,
        in_flight: int | None = None,
    ) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self._slots = threading.BoundedSemaphore(in_flight or 2 * lanes + 1)
        self._stages = stages
        self._go_on = go_on
        self._on_error = on_error
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._turn = threading.Lock()
        self._numbering = threading.Lock()  # never held by a lane: put may block under it
        self._next = 0  # sequence number of the next item (frame or call)
        self._due = 0  # sequence number of the item whose turn it is to go on
        self._calls: dict[int, Callable[[], None]] = {}  # calls waiting for their turn
        self._found: dict[int, tuple[Any, Any, BaseException | None]] = {}  # frames set aside
        self._ends = 0  # lanes told to end
        self.threads = [
            threading.Thread(target=self._run, args=(k,), name=f"cer-analysis-{k}", daemon=True)
            for k in range(lanes)
        ]
        self._started = False

    def start(self) -> None:
        self._started = True
        for t in self.threads:
            t.start()

    def put(self, frame: Any, *, stop: threading.Event | None = None) -> bool:
        """Queue a frame; blocks while `in_flight` frames are not yet passed on or another
        waits for a lane. False (not queued) when `stop` is set while waiting: a stopping loop
        never hangs on a stuck lane."""
        with self._numbering:  # numbers are handed out in the order items enter the queue
            while not self._slots.acquire(timeout=0.1):
                if stop is not None and stop.is_set():
                    return False
            while True:
                try:
                    self._queue.put((self._next, frame), timeout=0.1)
                    self._next += 1
                    return True
                except queue.Full:
                    if stop is not None and stop.is_set():
                        self._slots.release()
                        return False

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn()` after the frames queued before it have gone on: at once when they have
        (here), else on the lane that passes the last of them on. It takes no lane."""
        with self._numbering, self._turn:
            seq, self._next = self._next, self._next + 1
            if self._due != seq:
                self._calls[seq] = fn
                return
        self._pass_on(seq, "call", fn, None, None)

    def finish(self, timeout: float | None = 10.0) -> bool:
        """Analyse and pass on what is queued, end the threads and join them; True when
        they have all ended."""
        if not self._started:
            return True
        while self._ends < len(self.threads):
            try:  # a lane stuck downstream must not hang the loop's end as well
                self._queue.put(_END, timeout=timeout)
            except queue.Full:
                return False
            self._ends += 1
        for t in self.threads:
            if t is not threading.current_thread():
                t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def _run(self, lane: int) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            seq, frame = item
            found: Any = None
            error: BaseException | None = None
            try:
                found = self._stages.find(frame, lane)
            except Exception as exc:  # reported in its turn, below
                error = exc
            with self._turn:
                if self._due != seq:  # not its turn: set aside, the lane finds the next
                    self._found[seq] = (frame, found, error)
                    continue
            self._pass_on(seq, "frame", frame, found, error)

    def _pass_on(
        self, seq: int, kind: str, payload: Any, found: Any, error: BaseException | None
    ) -> None:
        """In item `seq`'s turn: pass it on, then the calls and the frames set aside that
        follow it, as long as they are there."""
        while True:
            try:
                if kind == "call":
                    payload()
                elif error is not None:
                    self._on_error(error, (payload,))
                else:
                    self._go_on(*self._stages.track(*found))
            except Exception as exc:  # one bad frame never ends the live view
                try:
                    self._on_error(exc, (payload,) if kind == "frame" else ())
                except Exception:
                    log.exception("reporting an analysis failure failed")
            finally:
                if kind == "frame":
                    self._slots.release()
            with self._turn:
                self._due = seq = seq + 1
                call = self._calls.pop(seq, None)
                aside = self._found.pop(seq, None) if call is None else None
                if call is None and aside is None:
                    return
            if call is not None:  # its turn: nobody else's
                kind, payload, found, error = "call", call, None, None
            elif aside is not None:
                kind, (payload, found, error) = "frame", aside
