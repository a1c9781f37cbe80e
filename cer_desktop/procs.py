"""This machine and its processes, as the recorder's lease and recovery see them.

One place for the process-liveness check, so a portable version (psutil) can replace
`os.kill(pid, 0)` without touching its callers, and for the name this machine gives itself in
session manifests and leases.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST_ENV = "CER_HOST_NAME"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except OSError:
        return False
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
