"""Process liveness and the signals/console events that end a run, per OS (`cer_desktop.portable`).

The Windows branches run here with the OS injected and a stand-in for kernel32's
`SetConsoleCtrlHandler`; the real console events can only be sent on Windows (the workflow's
windows-2022 job runs these tests there too).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cer_desktop.annotate.stop_signals import stop_on_signals
from cer_desktop.portable.process import pid_alive
from cer_desktop.portable.signals import ConsoleCloseHandler, end_signals
from cer_desktop.portable.system import current_os

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("plat", "name"),
    [("linux", "linux"), ("win32", "windows"), ("cygwin", "windows"), ("darwin", "macos")],
)
def test_current_os(plat: str, name: str) -> None:
    assert current_os(plat) == name


def test_pid_alive_for_this_process_and_not_for_a_reaped_child() -> None:
    assert pid_alive(__import__("os").getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(0) and not pid_alive(-1)


def test_a_killed_process_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        time.sleep(0.5)  # dead, not yet reaped: a zombie on POSIX, an open handle on Windows
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_no_code_tests_a_process_with_signal_0() -> None:
    # on Windows os.kill(pid, 0) sends CTRL_C_EVENT to a process group instead of testing it
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "cer_desktop").rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"os\.kill\(.*,\s*0\)", line)
    ]
    assert hits == []


def test_end_signals_per_os() -> None:
    windows = SimpleNamespace(SIGINT=2, SIGTERM=15, SIGBREAK=21, SIGABRT=22)
    posix = SimpleNamespace(SIGINT=2, SIGTERM=15, SIGHUP=1, SIGKILL=9)
    assert end_signals(windows) == (2, 15, 21)  # Ctrl+C, kill, Ctrl+Break
    assert end_signals(posix) == (2, 15, 1)  # no SIGHUP on Windows, no SIGBREAK on POSIX


class FakeKernel32:
    """Records SetConsoleCtrlHandler(routine, add) as Windows' kernel32 would take it."""

    def __init__(self) -> None:
        self.routines: list = []
        self.removed: list = []

    def SetConsoleCtrlHandler(self, routine, add: bool) -> int:  # noqa: N802 - Win32's name
        (self.routines if add else self.removed).append(routine)
        return 1


def test_console_handler_does_nothing_off_windows() -> None:
    kernel32 = FakeKernel32()
    for os_name in ("linux", "macos"):
        assert not ConsoleCloseHandler(os_name=os_name, kernel32=kernel32).install()
    assert kernel32.routines == []


def test_a_closed_console_stops_the_run_and_waits_for_it() -> None:
    kernel32 = FakeKernel32()
    seen: list[str] = []
    handler = ConsoleCloseHandler(seen.append, os_name="windows", kernel32=kernel32, grace_s=10)
    assert handler.install()
    (routine,) = kernel32.routines
    assert routine(0) == 0 and routine(1) == 0  # Ctrl+C, Ctrl+Break: Python's own handlers
    assert seen == []
    answer: list[int] = []
    windows_thread = threading.Thread(target=lambda: answer.append(routine(2)))
    windows_thread.start()
    time.sleep(0.3)
    assert seen == ["CTRL_CLOSE_EVENT"]
    assert windows_thread.is_alive() and answer == []  # holds the process: files still open
    handler.finished()
    windows_thread.join(5)
    assert answer == [1]  # handled; now Windows may end the process
    assert kernel32.removed == [routine]


def test_stop_on_signals_turns_a_closed_console_into_sigterm() -> None:
    """The whole path of `cer annotate` on Windows, with the event sent from Windows' thread."""
    kernel32 = FakeKernel32()
    console = ConsoleCloseHandler(os_name="windows", kernel32=kernel32, grace_s=10)
    stopped = threading.Event()
    pipeline = SimpleNamespace(request_stop=stopped.set)
    answer: list[int] = []
    with stop_on_signals(console=console) as stop:
        stop.attach(pipeline)
        (routine,) = kernel32.routines
        windows_thread = threading.Thread(target=lambda: answer.append(routine(6)))
        windows_thread.start()
        deadline = time.monotonic() + 5
        while not stop.requested and time.monotonic() < deadline:
            time.sleep(0.01)  # the main thread runs the Python-level handler between these
        assert stop.name == "SIGTERM" and stopped.is_set()
        assert console.events == ["CTRL_SHUTDOWN_EVENT"]
        time.sleep(0.1)
        assert answer == []  # still held while the run closes its files
    windows_thread.join(5)
    assert answer == [1]
    assert signal.getsignal(signal.SIGTERM) is not stop._handle  # handlers restored
