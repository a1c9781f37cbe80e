"""Whether a process is alive, the same way on every OS.

Sending signal 0 with `os.kill` tests a process on POSIX, but on Windows signal 0 is
`CTRL_C_EVENT`: the call tests nothing and sends Ctrl+C to a process group. psutil asks each OS properly (`OpenProcess`
on Windows, `kill(pid, 0)` plus /proc on Linux, `kill`/`sysctl` on macOS).
"""

from __future__ import annotations

__all__ = ["pid_alive"]


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
