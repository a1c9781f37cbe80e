"""A live source that is lost and comes back (a camera unplugged): wait, tell, go on.

`CameraSource` raises `SourceLost` while its device is gone and reconnects by itself on later
reads. `read_through_loss` keeps reading (every `RECONNECT_POLL_S`, until the run is asked to
stop), reports `SOURCE_LOST` once and `SOURCE_RESTORED` with the gap's length when frames
come again, and hands both events to every sink that notes gaps (`note_status`: the recorder
logs them in `events.jsonl`). The run never ends for a loss; the user decides when to stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from cer_desktop.capture.base import FrameSource, SourceLost
from cer_desktop.contracts import Frame, Severity, StatusEvent, StatusKind

log = logging.getLogger(__name__)

RECONNECT_POLL_S = 0.25  # how often a lost source is read again (it paces its own retries)

ReportStatus = Callable[..., StatusEvent]


class SourceGap:
    """Reports a loss once and its end with `gap_s`; passes both to the sinks."""

    def __init__(
        self,
        report: ReportStatus,
        sinks: Callable[[], Sequence[object]],
        in_order: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._report = report
        self._sinks = sinks
        # The live loop passes its render stage's `call`: the sinks hear of a gap after the
        # frames read before it, not while those are still being painted.
        self._in_order = in_order
        self.lost_at: float | None = None

    def lost(self, exc: SourceLost) -> None:
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            message = f"{exc} — waiting for it to come back"
            self._tell(self._report(StatusKind.SOURCE_LOST, message, Severity.WARNING))

    def delivered(self, description: str) -> None:
        if self.lost_at is not None:
            gap = time.monotonic() - self.lost_at
            self.lost_at = None
            message = f"{description} is back after {gap:.1f} s"
            self._tell(self._report(StatusKind.SOURCE_RESTORED, message, gap_s=round(gap, 3)))

    def _tell(self, event: StatusEvent) -> None:
        if self._in_order is not None:
            self._in_order(lambda: self._tell_sinks(event))
        else:
            self._tell_sinks(event)

    def _tell_sinks(self, event: StatusEvent) -> None:
        for sink in self._sinks():
            note = getattr(sink, "note_status", None)
            if note is not None:
                try:
                    note(event)
                except Exception:  # a sink that cannot note a gap keeps recording
                    log.exception("a sink could not note %s", event.kind)


def read_through_loss(source: FrameSource, stop: threading.Event, gap: SourceGap) -> Frame | None:
    """The next frame, waiting out a lost source; None at the end or when asked to stop
    while the source was lost. Other `SourceError`s propagate."""
    while True:
        try:
            frame = source.read()
        except SourceLost as exc:
            gap.lost(exc)
            if stop.wait(RECONNECT_POLL_S):
                return None
            continue
        if frame is not None:
            gap.delivered(source.description)
        return frame
