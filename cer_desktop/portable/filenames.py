"""File and folder names that are valid on every OS, and paths Windows can open.

Windows refuses `< > : " / \\ | ? *` and control characters in a name, names ending in a dot
or a space, and the device names CON, PRN, AUX, NUL, COM1-9 and LPT1-9 (with any extension:
"con.mp4" is the console too). Unless long paths are enabled (a registry setting most machines
lack), a path of 260 characters or more cannot be opened. Session folders and the files in
them are named with `safe_name`, and a session is refused up front when its files' paths
would be too long there (`path_too_long`), instead of failing mid-recording.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cer_desktop.portable.system import OsName, current_os

__all__ = ["WINDOWS_MAX_PATH", "path_too_long", "safe_name"]

#: MAX_PATH counts the terminating NUL: 259 characters are usable.
WINDOWS_MAX_PATH = 260
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?", re.IGNORECASE)


def safe_name(name: str, *, max_len: int = 100, fallback: str = "input") -> str:
    """`name` as a single path component valid on Windows, macOS and Linux.

    Forbidden characters become "_", trailing dots and spaces go, a reserved device name gets
    a "_" in front, and a name longer than `max_len` is cut and given a short hash of the whole
    name so two long names that share a beginning stay apart.
    """
    out = _FORBIDDEN.sub("_", name).rstrip(". ")
    if not out or out in (".", ".."):
        out = fallback
    if _RESERVED.fullmatch(out):
        out = "_" + out
    if len(out) > max_len:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        out = out[: max_len - 9].rstrip(". ") + "-" + digest
    return out


def path_too_long(
    folder: str | Path, longest_child: str = "", *, os_name: OsName | None = None
) -> str | None:
    """Why `folder` (with a file named like `longest_child` in it) cannot be used on this OS,
    or None. Only Windows has such a limit (macOS and Linux allow 1024/4096 bytes)."""
    if (os_name or current_os()) != "windows":
        return None
    full = str(Path(folder).absolute() / longest_child) if longest_child else str(folder)
    if len(full) < WINDOWS_MAX_PATH:
        return None
    return (
        f"the path {full[:60]}... is {len(full)} characters long; Windows opens at most "
        f"{WINDOWS_MAX_PATH - 1}: choose a recording folder closer to the drive's root"
    )
