"""The window's quit path on Windows: a closed console quits like SIGTERM and waits for the
shutdown (the Windows branch, run here with the OS and kernel32 injected)."""

from __future__ import annotations

import signal
import threading
import time

from cer_desktop.gui.quit_signals import QUIT_SIGNALS, QuitOnSignals
from cer_desktop.portable.signals import ConsoleCloseHandler


class FakeKernel32:
    def __init__(self) -> None:
        self.routines: list = []

    def SetConsoleCtrlHandler(self, routine, add: bool) -> int:  # noqa: N802 - Win32's name
        if add:
            self.routines.append(routine)
        return 1


def test_a_closed_console_quits_the_window_after_its_shutdown(qtbot):
    kernel32 = FakeKernel32()
    console = ConsoleCloseHandler(os_name="windows", kernel32=kernel32, grace_s=10)
    quits: list[float] = []
    signals = QuitOnSignals(lambda: quits.append(time.monotonic()), console=console)
    answer: list[int] = []
    try:
        (routine,) = kernel32.routines
        windows_thread = threading.Thread(target=lambda: answer.append(routine(2)))
        windows_thread.start()
        # the wake-up fd wakes Qt's loop; the handler runs in the main thread
        qtbot.waitUntil(lambda: bool(quits), timeout=5000)
        assert signals.received == [signal.SIGTERM]
        assert answer == []  # Windows is held while the window shuts down
    finally:
        signals.uninstall()  # after window.shutdown() in the app
    windows_thread.join(5)
    assert answer == [1]
    assert signal.SIGTERM in QUIT_SIGNALS
