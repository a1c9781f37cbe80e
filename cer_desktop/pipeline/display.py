"""The display consumer's thread: hands on the newest painted frame (policy NEWEST_ONLY)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from cer_desktop.contracts import Annotation
from cer_desktop.pipeline.sinks import DeliveryPolicy

log = logging.getLogger(__name__)

DisplayCallback = Callable[[Annotation, np.ndarray], None]


class DisplayThread:
    """Delivers the newest painted frame to `deliver` on its own thread.

    Policy `NEWEST_ONLY`: a frame waiting for delivery is replaced by a newer one
    (`on_replaced()` counts it); `on_delivered()` is called after each delivery that did not
    raise. The pipeline's capture thread never waits for the display.
    """

    policy = DeliveryPolicy.NEWEST_ONLY

    def __init__(
        self,
        deliver: DisplayCallback,
        *,
        on_replaced: Callable[[], None] | None = None,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        self._deliver_cb = deliver
        self._on_replaced = on_replaced
        self._on_delivered = on_delivered
        self._cond = threading.Condition()
        self._item: tuple[Annotation, np.ndarray] | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name="cer-display", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, join: bool = True) -> None:
        with self._cond:
            self._stop = True
            self._item = None
            self._cond.notify_all()
        if join and self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(5.0)

    def put(self, annotation: Annotation, painted: np.ndarray) -> None:
        with self._cond:
            replaced = self._item is not None
            self._item = (annotation, painted)
            self._cond.notify_all()
        if replaced and self._on_replaced is not None:
            self._on_replaced()

    def drain(self) -> None:
        """Deliver the pending frame in the calling thread (offline use)."""
        with self._cond:
            item, self._item = self._item, None
        if item is not None:
            self._deliver(item)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._item is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._item = self._item, None
            if item is not None:  # always: the wait ends on an item or on stop
                self._deliver(item)

    def _deliver(self, item: tuple[Annotation, np.ndarray]) -> None:
        try:
            self._deliver_cb(*item)
        except Exception:
            log.exception("the display callback failed")
            return
        if self._on_delivered is not None:
            self._on_delivered()
