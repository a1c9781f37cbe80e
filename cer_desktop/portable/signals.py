"""The signals and console events that end a run cleanly, per OS.

- POSIX: SIGINT (Ctrl+C), SIGTERM (`kill`) and SIGHUP (the terminal closed, logout).
- Windows: SIGINT (Ctrl+C) and SIGBREAK (Ctrl+Break) reach Python's signal handlers; closing
  the console window, logging off and shutting down do not: Windows sends the process a
  console control event (`CTRL_CLOSE_EVENT`, `CTRL_LOGOFF_EVENT`, `CTRL_SHUTDOWN_EVENT`) on a
  thread of its own and ends the process as soon as the handler returns (after 5 s at most
  for a closing console). `ConsoleCloseHandler` turns such an event into SIGTERM for the
  handlers the run already has (so the run stops exactly as after `kill`) and holds the
  process until the run says it has finished its files.
"""

from __future__ import annotations

import _thread
import ctypes
import logging
import signal
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from cer_desktop.portable.system import OsName, current_os

__all__ = ["CLOSE_EVENTS", "ConsoleCloseHandler", "end_signals"]

log = logging.getLogger(__name__)

#: Names of the signals that end a run cleanly, on whichever OS has them.
END_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")

#: Windows console control events that end the process (wincon.h); Ctrl+C (0) and Ctrl+Break
#: (1) are left to Python, which delivers them as SIGINT and SIGBREAK.
CLOSE_EVENTS = {2: "CTRL_CLOSE_EVENT", 5: "CTRL_LOGOFF_EVENT", 6: "CTRL_SHUTDOWN_EVENT"}


def end_signals(signal_module: ModuleType | Any = signal) -> tuple[signal.Signals, ...]:
    """The signals of `END_SIGNAL_NAMES` that `signal_module` has (this OS's, by default)."""
    return tuple(
        getattr(signal_module, name) for name in END_SIGNAL_NAMES if hasattr(signal_module, name)
    )


def _raise_sigterm(event: str) -> None:
    # as if SIGTERM had arrived: Python flags it (and writes the wake-up fd, which wakes Qt's
    # loop) and runs the handler in the main thread, as for `kill`; no C raise(), whose
    # handlers the Windows C runtime may keep per thread
    _thread.interrupt_main(signal.SIGTERM)


class ConsoleCloseHandler:
    """On Windows, ends a run cleanly when its console is closed (or the user logs off).

    `install()` registers a console control handler (`SetConsoleCtrlHandler`); for a close
    event it calls `on_close(event_name)` (default: raise SIGTERM in this process) and then
    waits until `finished()` is called — after the run has closed its files — or `grace_s`
    has passed, because Windows ends the process when the handler returns. Elsewhere (or
    without a console) `install()` does nothing and returns False.

    `os_name`, `kernel32` and `functype` are injectable so tests run the Windows branch on any
    OS with a stand-in for kernel32.
    """

    def __init__(
        self,
        on_close: Callable[[str], None] = _raise_sigterm,
        *,
        grace_s: float = 4.5,
        os_name: OsName | None = None,
        kernel32: Any = None,
        functype: Any = None,
    ) -> None:
        self._on_close = on_close
        self._grace_s = grace_s
        self._os = os_name or current_os()
        self._kernel32 = kernel32
        self._functype = functype
        self._routine: Any = None
        self._callbacks: list[Any] = []  # never freed: Windows may still be running one
        self._finished = threading.Event()
        self.events: list[str] = []

    def install(self) -> bool:
        """Register the handler (Windows only); True when it is in place."""
        if self._os != "windows" or self._routine is not None:
            return self._routine is not None
        kernel32 = self._kernel32
        if kernel32 is None:
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        functype = self._functype or getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
        # BOOL WINAPI HandlerRoutine(DWORD dwCtrlType); kept referenced while registered
        routine = functype(ctypes.c_int, ctypes.c_ulong)(self._handle)
        if not kernel32.SetConsoleCtrlHandler(routine, True):
            log.warning("SetConsoleCtrlHandler failed: closing the console ends the run abruptly")
            return False
        self._kernel32, self._routine = kernel32, routine
        self._callbacks.append(routine)
        return True

    def _handle(self, ctrl_type: int) -> int:
        name = CLOSE_EVENTS.get(int(ctrl_type))
        if name is None:
            return 0  # not ours: Ctrl+C/Ctrl+Break go on to Python's own handler
        self.events.append(name)
        log.warning("%s: stopping the run before Windows ends the process", name)
        if len(self.events) == 1:
            self._on_close(name)
        self._finished.wait(self._grace_s)
        return 1

    def finished(self) -> None:
        """The run has closed its files: let a waiting close event end the process, and
        unregister. Safe to call twice, and when nothing was installed."""
        self._finished.set()
        if self._routine is not None:
            self._kernel32.SetConsoleCtrlHandler(self._routine, False)
            self._routine = None
