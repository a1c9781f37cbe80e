"""Which operating system this is, as the three names the rest of the code branches on."""

from __future__ import annotations

import sys
from typing import Literal

__all__ = ["OS_NAMES", "OsName", "current_os"]

OsName = Literal["linux", "windows", "macos"]
OS_NAMES: tuple[OsName, ...] = ("linux", "windows", "macos")


def current_os(sys_platform: str | None = None) -> OsName:
    """ "linux", "windows" or "macos" for `sys_platform` (default: this interpreter's).

    Other POSIX systems (the BSDs) count as "linux": they share its paths and signals.
    """
    plat = sys.platform if sys_platform is None else sys_platform
    if plat.startswith("win") or plat == "cygwin":
        return "windows"
    if plat == "darwin":
        return "macos"
    return "linux"
