"""One `AnnotationSink` for all streams, and the queued sender thread each stream runs on.

Policy: `DeliveryPolicy.DROP_WHEN_FULL` per stream. The pipeline thread turns each painted
frame into `FrameValues` once (microseconds) and offers it to every output's bounded queue
without waiting; a full queue drops the frame for that output and counts it, so a slow
network consumer never slows capture, the view or the other streams.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

from cer_desktop.contracts import Annotation
from cer_desktop.pipeline.sinks import DeliveryPolicy
from cer_desktop.streams.frame_data import FrameValues, SlotMap, frame_values

log = logging.getLogger(__name__)


class StreamOutput:
    """A stream with its own sender thread and bounded queue. Subclasses implement `_send`
    (and optionally `_open`/`_close`, run on the sender thread)."""

    name = "stream"
    policy = DeliveryPolicy.DROP_WHEN_FULL

    def __init__(self, queue_size: int = 64) -> None:
        self._queue: queue.Queue[FrameValues | None] = queue.Queue(maxsize=max(1, queue_size))
        self._lock = threading.Lock()
        self.sent = 0  # frames handed to the library / the network
        self.dropped = 0  # frames dropped because the queue was full
        self.error = ""  # why the stream stopped by itself, for people
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"cer-stream-{self.name}", daemon=True
        )
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def offer(self, values: FrameValues) -> bool:
        """Queue a frame without waiting; False (counted) when the queue is full. A stream
        that stopped (closed, or failed: `error`) takes nothing and drops nothing."""
        if self._closed or self.error:
            return True
        try:
            self._queue.put_nowait(values)
            return True
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, stop the thread and release the stream. Idempotent."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                self._queue.put(None, timeout=0.2)
                break
            except queue.Full:
                if not self._thread.is_alive():
                    break
        if self._started:
            self._thread.join(timeout)
        else:
            self._shutdown()  # never started: release what the constructor opened

    @property
    def consumers(self) -> int:
        """How many receivers are connected (-1 when the stream cannot know, as for UDP)."""
        return -1

    def describe(self) -> str:
        """A short description for the status bar."""
        return self.name

    def _open(self) -> None:
        """Runs first on the sender thread."""

    def _send(self, values: FrameValues) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        """Runs last on the sender thread."""

    def _run(self) -> None:
        try:
            self._open()
            while True:
                item = self._queue.get()
                if item is None:
                    break
                self._send(item)
                self.sent += 1
        except Exception as exc:  # a failing stream stops itself; the session goes on
            log.exception("stream %s failed", self.name)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                self._shutdown()
            except Exception:
                log.exception("closing stream %s failed", self.name)


class StreamFanout:
    """The `AnnotationSink` a session gets: frame values to every output (DROP_WHEN_FULL).

    `submit` returns False when any output dropped the frame (the pipeline counts it under
    the name "streams"; each output counts its own drops too).
    """

    name = "streams"
    policy = DeliveryPolicy.DROP_WHEN_FULL
    before_paint = True  # values only: offered before the overlay is painted

    def __init__(
        self,
        outputs: Sequence[StreamOutput],
        max_faces: int,
        on_values: Callable[[FrameValues], None] | None = None,
    ) -> None:
        self.outputs = tuple(outputs)
        self._slots = SlotMap(max_faces)
        self._on_values = on_values

    @property
    def max_faces(self) -> int:
        return self._slots.size

    def set_max_faces(self, n: int) -> None:
        """A new layout size (the session's *Faces* changed): slots are assigned afresh."""
        if int(n) != self._slots.size:
            self._slots = SlotMap(n)  # one assignment: the pipeline thread sees old or new

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        values = frame_values(annotation, self._slots)
        if self._on_values is not None:
            self._on_values(values)
        ok = True
        for out in self.outputs:
            ok = out.offer(values) and ok
        return ok

    def close(self) -> None:
        """Outputs are closed by their hub (a pipeline's stop must not end the streams)."""


class SwitchableSink:
    """A fixed `AnnotationSink` to give a `LiveSession` at construction (its `sinks`), whose
    target can be switched while the session runs: streams turn on and off without touching
    the session. No target: frames are ignored (accepted, nothing to drop)."""

    name = "streams"
    policy = DeliveryPolicy.DROP_WHEN_FULL
    before_paint = True  # values only: offered before the overlay is painted

    def __init__(self) -> None:
        self.target: StreamFanout | None = None  # one assignment: atomic for the pipeline

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        target = self.target
        return True if target is None else target.submit(annotation, painted)

    def close(self) -> None:
        """The streams are closed by their owner (session.streams), not by a pipeline."""
