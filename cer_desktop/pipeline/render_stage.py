"""The live loop's second stage: paint and deliver on a thread of its own.

MediaPipe's landmarks take most of a frame's time (about 10 ms a face on a 2-core CPU, in
MediaPipe's own native thread) and the capture thread only waits for them. Painting, the
recognizer's fresh-result wait, the display hand-off and every sink's `submit` used to follow
on the same thread, so with two faces a frame took longer than 33 ms and the view fell under
30 fps (`cer bench streams`). Here the capture thread analyses frame N+1 while this stage
paints and delivers frame N: the two overlap on the two cores.

Nothing is dropped here: the queue is short (`depth` frames) and `put` blocks when it is
full, so a slow stage slows the capture loop exactly as before (a live camera then drops
frames itself, and the capture rate says so). Items run strictly in order; `call` queues a
function among the frames (a source gap is noted to the sinks after the frames before it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_END = object()


class RenderStage:
    """Runs queued items on the thread "cer-render", in order, until `finish()`."""

    def __init__(
        self,
        render: Callable[..., None],
        on_error: Callable[[BaseException, tuple[Any, ...]], None],
        *,
        depth: int = 2,
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._render = render
        self._on_error = on_error
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name="cer-render", daemon=True)
        self._started = False

    def start(self) -> None:
        self._started = True
        self.thread.start()

    def put(self, *args: Any, stop: threading.Event | None = None) -> bool:
        """Queue `render(*args)`; blocks while `depth` items wait. False (not queued) when
        `stop` is set while waiting for room: a stopping loop never hangs on a stuck stage."""
        while True:
            try:
                self._queue.put(("render", args), timeout=0.1)
                return True
            except queue.Full:
                if stop is not None and stop.is_set():
                    return False

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn()` on the stage's thread after the items queued before it."""
        if not self._started or not self.thread.is_alive():
            fn()  # nothing queued can precede it
            return
        self._queue.put(("call", fn))

    def finish(self, timeout: float | None = 10.0) -> bool:
        """Run what is queued, end the thread and join it; True when it has ended."""
        if not self._started:
            return True
        if self.thread.is_alive():
            try:  # a stage stuck in a sink must not hang the loop's end as well
                self._queue.put(_END, timeout=timeout)
            except queue.Full:
                return False
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            kind, payload = item
            try:
                if kind == "call":
                    payload()
                else:
                    self._render(*payload)
            except Exception as exc:  # one bad frame never ends the live view
                try:
                    self._on_error(exc, payload if kind == "render" else ())
                except Exception:
                    log.exception("reporting a render failure failed")
