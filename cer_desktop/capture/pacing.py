"""Real-time pacing for live sources: one frame every 1/fps seconds, without bursts."""

from __future__ import annotations

import threading
import time

__all__ = ["Pacer"]


class Pacer:
    """Sleeps until the next frame is due.

    Frames are due on a fixed schedule (t0 + k/fps) so small delays do not accumulate; when
    the caller falls more than one frame behind, the schedule restarts from now instead of
    delivering a burst of late frames. `interrupt()` wakes a sleeping `wait()` (for close()).
    """

    def __init__(self, fps: float) -> None:
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.period = 1.0 / float(fps)
        self._next: float | None = None
        self._wake = threading.Event()

    def wait(self) -> None:
        now = time.monotonic()
        if self._next is None or now - self._next > self.period:
            self._next = now
        delay = self._next - now
        if delay > 0:
            self._wake.wait(delay)
        self._next += self.period

    def interrupt(self) -> None:
        self._wake.set()
