"""Running Lab Streaming Layer code where no packet can leave the machine: a network
namespace of its own with only the loopback interface (tests and `cer bench streams`).

LSL finds streams by multicast and broadcast. As root, `unshare --net` gives a namespace with
only `lo`; it is brought up and given multicast routes (IPv4 and IPv6) so LSL's discovery
works on it. `in_private_netns()` checks the result: every interface is `lo`, and the
namespace differs from init's when that can be read.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence

ENV_MARK = "CER_PRIVATE_NETNS"  # set in the child, so its own checks say where it runs
_SETUP = (
    "ip link set lo up"
    " && ip route add multicast 224.0.0.0/4 dev lo table local"
    " && (ip -6 route add multicast ff00::/8 dev lo table local 2>/dev/null || true)"
    ' && exec "$@"'
)


def in_private_netns() -> bool:
    """True when this process's only network interface is the loopback (and its network
    namespace is not init's, where that can be read)."""
    try:
        names = {name for _, name in socket.if_nameindex()}
    except OSError:
        return False
    if names != {"lo"}:
        return False
    try:
        return os.readlink("/proc/self/ns/net") != os.readlink("/proc/1/ns/net")
    except OSError:  # /proc/1 hidden (a container): the interfaces decided it
        return True


def netns_problem() -> str | None:
    """Why a private namespace cannot be made here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "making a network namespace needs root (unshare --net)"
    for tool in ("unshare", "ip", "sh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        out = subprocess.run(
            ["unshare", "--net", "sh", "-c", _SETUP, "sh", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --net failed: {exc}"
    if out.returncode != 0:
        return f"unshare --net failed: {(out.stderr or out.stdout).strip()}"
    return None


def netns_command(argv: Sequence[str]) -> list[str]:
    """`argv` wrapped to run in a new namespace with `lo` up and multicast routed on it."""
    return ["unshare", "--net", "sh", "-c", _SETUP, "sh", *argv]


def netns_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env[ENV_MARK] = "1"
    return env
