"""This machine and its processes, the same way on every OS: whether a process is alive, the
name this machine gives itself in manifests and leases, and the id of this boot.

Sending signal 0 with `os.kill` tests a process on POSIX, but on Windows signal 0 is
`CTRL_C_EVENT`: the call tests nothing and sends Ctrl+C to a process group. psutil asks each OS properly (`OpenProcess`
on Windows, `kill(pid, 0)` plus /proc on Linux, `kill`/`sysctl` on macOS).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["HOST_ENV", "boot_id", "host_name", "pid_alive"]

HOST_ENV = "CER_HOST_NAME"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux; elsewhere there is none (None)


def pid_alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie, dead but not yet reaped, is not alive).

    Another user's process counts as alive (it exists; we may just not signal it).
    """
    import psutil  # light, but only the recovery path needs it

    if not isinstance(pid, int) or pid <= 0 or not psutil.pid_exists(pid):
        return False  # pid_exists: on Windows also False for an exited process still referenced
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def host_name() -> str:
    """The name this machine writes into manifests and leases: `CER_HOST_NAME` when set
    (machines that share a record folder under the same host name must be told apart),
    else the system's host name."""
    return os.environ.get(HOST_ENV, "").strip() or socket.gethostname()


def boot_id() -> str | None:
    """An id of this boot of this machine (Linux), or None: a process id is only meaningful
    within one boot, so a lease from before a restart is never judged by its pid."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None
