"""Stop a headless run (`cer annotate`, benchmarks) cleanly on SIGINT, SIGTERM and SIGHUP,
and on Windows on Ctrl+Break (SIGBREAK) and a closed console (`portable/signals.py`).

The handler only records the signal and asks the running pipeline to stop after its current
frame (`Pipeline.request_stop` sets an event: safe in a handler). The caller then closes its
recorder as usual, so the session is finalised (video, CSV, manifest) and marked unfinished
for the next run, and the process exits with 128 + the signal's number.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from cer_desktop.portable.signals import ConsoleCloseHandler, end_signals

log = logging.getLogger(__name__)

#: The signals that stop a run cleanly, where the platform has them.
STOP_SIGNALS: tuple[signal.Signals, ...] = end_signals()


class _Stoppable(Protocol):
    def request_stop(self) -> None: ...


class StopRequest:
    """Whether (and by which signal) a stop was asked for; stops the attached pipeline."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._target: _Stoppable | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def attach(self, target: _Stoppable | None) -> None:
        """Stop `target` when a stop is requested (at once if one already was)."""
        self._target = target
        if target is not None and self.requested:
            target.request_stop()

    def request(self, signum: int) -> None:
        first = self.signum is None
        self.signum = signum if first else self.signum
        target = self._target
        if target is not None:
            target.request_stop()
        if first:
            log.warning("%s: stopping after the current frame", self.name)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.request(signum)


@contextmanager
def stop_on_signals(console: ConsoleCloseHandler | None = None) -> Iterator[StopRequest]:
    """Install handlers for `STOP_SIGNALS` for the duration of the block (main thread).

    On Windows a closed console stops the run as SIGTERM does, and the process is held until
    the block ends (files closed); `console` replaces that handler (tests).
    """
    stop = StopRequest()
    old: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        old[sig] = signal.signal(sig, stop._handle)
    console = console or ConsoleCloseHandler()
    console.install()
    try:
        yield stop
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
        console.finished()
