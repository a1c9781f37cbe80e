"""What the window keeps across runs and starts beside itself: its layout in the settings, and
the repair of sessions a crash left unfinished (off the GUI thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow

from cer_desktop.session.library import recover_unfinished


def restore_layout(window: QMainWindow, settings: Any) -> None:
    """Window size, position, docks and toolbars as the user left them."""
    if settings.window_geometry:
        window.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
    if settings.window_state:
        window.restoreState(QByteArray.fromBase64(settings.window_state.encode("ascii")))


def remember_layout(window: QMainWindow, settings: Any) -> None:
    settings.window_geometry = bytes(window.saveGeometry().toBase64().data()).decode()
    settings.window_state = bytes(window.saveState().toBase64().data()).decode()


class StartupRecovery:
    """Repairs the record folder's unfinished sessions on a `cer-session-recovery` thread;
    `stop()` ends its wait for other hosts' leases and joins it."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def start(self, root: Any, say: Callable[..., Any]) -> None:
        self._thread = threading.Thread(
            target=recover_unfinished,
            args=(root, say, self._cancel),
            name="cer-session-recovery",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._cancel.set()
            self._thread.join(60.0)
