"""Quit the window cleanly on SIGINT, SIGTERM and SIGHUP (Ctrl+C, `kill`, logout), and on
Windows on Ctrl+Break (SIGBREAK) and a closed console (`portable/signals.py`).

Python runs a signal handler only between bytecodes of the main thread, and Qt's event loop
runs no Python while it waits: a handler alone would wait for the next timer. The handler is
therefore paired with `signal.set_wakeup_fd` on a socket a `QSocketNotifier` watches, so the
loop wakes at once. The handler asks the application to quit; `aboutToQuit` then runs the
window's shutdown, which stops a recording the same way the Stop button does (video finalised,
CSV flushed, manifest complete).
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier

from cer_desktop.portable.signals import ConsoleCloseHandler, end_signals

log = logging.getLogger(__name__)

#: The signals that end the app cleanly, where the platform has them.
QUIT_SIGNALS: tuple[signal.Signals, ...] = end_signals()


class QuitOnSignals(QObject):
    """Installs handlers that call `quit()` once on the first of `QUIT_SIGNALS`.

    `received` lists the signals seen. `uninstall()` restores the previous handlers; later
    signals while quitting are logged and otherwise ignored, so a second Ctrl+C cannot cut a
    recording's finalisation short.
    """

    def __init__(
        self,
        quit: Callable[[], Any],
        parent: QObject | None = None,
        console: ConsoleCloseHandler | None = None,
    ) -> None:
        super().__init__(parent)
        self._quit = quit
        self.received: list[int] = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._old: dict[int, Any] = {}
        for sig in QUIT_SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        # Windows: a closed console raises SIGTERM here and waits for uninstall() (after the
        # shutdown has finalised a recording) before Windows ends the process
        self._console = console or ConsoleCloseHandler()
        self._console.install()
        self._installed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            log.warning("%s: already quitting", signal.Signals(signum).name)
            return
        log.info("%s: stopping and quitting", signal.Signals(signum).name)
        self._quit()

    def _drain(self) -> None:
        # Only wakes the loop; the Python-level handler has already run (or runs now).
        try:
            while self._reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def uninstall(self) -> None:
        """Restore the previous handlers and wake-up fd. Safe to call twice."""
        if not self._installed:
            return
        self._installed = False
        for sig, old in self._old.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(self._old_fd)
        self._console.finished()
        self._notifier.setEnabled(False)
        self._reader.close()
        self._writer.close()
