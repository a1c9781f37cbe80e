"""The display consumer's thread: shows painted frames at the pace they were captured.

Frames reach the display unevenly: the analysis lanes pass frames on strictly in order, so a
frame found late releases the one found early behind it, and two frames arrive a few ms
apart; a busy second delays some frames more than others. Shown as they come, such a pair is
one frame seen for 3 ms, a stutter. So each frame is held until `t_capture + hold`, where
`hold` is the 95th percentile of how long the last 120 frames (4 s) took from capture to here
(at most `max_hold_s`): frames captured 33 ms apart are shown 33 ms apart, at the cost of the
gap between a typical frame's latency and a slow one's (about 20 ms live, `cer bench
streams`). A frame later than its time is shown at once.

Policy NEWEST_ONLY: of the frames whose time has come, the newest is shown and the older ones
are replaced (`on_replaced()` counts them): a display callback slower than the frame rate
shows the newest frame, never a backlog. Frames waiting for their time are not a backlog (at
30 fps and a 100 ms hold, three or four wait at once); only beyond `max_waiting` is the
oldest replaced. The pipeline never waits for the display.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from cer_desktop.contracts import Annotation
from cer_desktop.pipeline.sinks import DeliveryPolicy

log = logging.getLogger(__name__)

DisplayCallback = Callable[[Annotation, np.ndarray], None]

_Item = tuple[float, Annotation, np.ndarray]  # (when to show it, annotation, painted)


class DisplayThread:
    """Delivers painted frames to `deliver` on its own thread, each at its capture time plus
    the display's hold (module docstring); `on_delivered()` after each delivery that did not
    raise. The pipeline's capture thread never waits for the display."""

    policy = DeliveryPolicy.NEWEST_ONLY

    def __init__(
        self,
        deliver: DisplayCallback,
        *,
        on_replaced: Callable[[], None] | None = None,
        on_delivered: Callable[[], None] | None = None,
        max_waiting: int = 16,
        max_hold_s: float = 0.1,
        quantile: float = 0.95,
    ) -> None:
        self._deliver_cb = deliver
        self._on_replaced = on_replaced
        self._on_delivered = on_delivered
        self.max_waiting = max(1, max_waiting)
        self.max_hold_s = max(0.0, max_hold_s)
        self.quantile = min(1.0, max(0.0, quantile))
        self._cond = threading.Condition()
        self._items: deque[_Item] = deque()
        self._ages: deque[float] = deque(maxlen=120)
        self._hold = 0.0
        self._last_due = 0.0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name="cer-display", daemon=True)

    @property
    def hold_s(self) -> float:
        """How long after its capture a frame is shown now (seconds)."""
        return self._hold

    def start(self) -> None:
        self.thread.start()

    def stop(self, join: bool = True) -> None:
        with self._cond:
            self._stop = True
            self._items.clear()
            self._cond.notify_all()
        if join and self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(5.0)

    def put(self, annotation: Annotation, painted: np.ndarray) -> None:
        now = time.monotonic()
        t_capture = float(annotation.frame.t_capture)
        age = now - t_capture
        with self._cond:
            if 0.0 <= age <= 1.0:  # a live capture time; anything else is shown at once
                self._ages.append(age)
                ages = sorted(self._ages)
                self._hold = min(self.max_hold_s, ages[int(self.quantile * (len(ages) - 1))])
                due = t_capture + self._hold  # at most now + max_hold_s: age >= 0
            else:
                due = now
            due = max(due, self._last_due)  # shown in the order they came
            self._last_due = due
            self._items.append((due, annotation, painted))
            replaced = len(self._items) > self.max_waiting
            if replaced:
                self._items.popleft()
            self._cond.notify_all()
        if replaced and self._on_replaced is not None:
            self._on_replaced()

    def drain(self) -> None:
        """Deliver the pending frames in the calling thread (offline use)."""
        with self._cond:
            items, self._items = list(self._items), deque()
        for _, annotation, painted in items:
            self._deliver(annotation, painted)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    if not self._items:
                        self._cond.wait()
                        continue
                    now = time.monotonic()
                    wait = self._items[0][0] - now
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                replaced = 0  # the newest frame whose time has come; older due ones are replaced
                while len(self._items) > 1 and self._items[1][0] <= now:
                    self._items.popleft()
                    replaced += 1
                _, annotation, painted = self._items.popleft()
            if self._on_replaced is not None:
                for _ in range(replaced):
                    self._on_replaced()
            self._deliver(annotation, painted)

    def _deliver(self, annotation: Annotation, painted: np.ndarray) -> None:
        try:
            self._deliver_cb(annotation, painted)
        except Exception:
            log.exception("the display callback failed")
            return
        if self._on_delivered is not None:
            self._on_delivered()
