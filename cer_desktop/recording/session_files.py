"""The names in a session folder and the errors writing one can meet, in words and as codes."""

from __future__ import annotations

import errno
import os
from datetime import datetime
from pathlib import Path

from cer_desktop.portable.filenames import path_too_long, safe_name
from cer_desktop.portable.system import OsName

ANNOTATED_VIDEO = "annotated.mp4"
RAW_VIDEO = "raw.mp4"
# The longest name a session folder holds (a recovered CSV part's kept original): the folder's
# path must leave room for it on Windows.
LONGEST_FILE_NAME = "frames.part99.csv.orig"
# Drop reasons written to the manifest.
DROP_QUEUE_FULL = "queue_full"  # the writer fell behind capture (live only)
DROP_WRITE_ERROR = "write_error"  # frames queued when a disk error stopped the recording


class RecordingError(RuntimeError):
    """A session that cannot start (folder not writable, already holds a session)."""


def new_session_folder(root: str | os.PathLike[str], prefix: str = "session") -> Path:
    """A fresh, not yet existing folder under `root` named by the local start time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")  # no ":" (Windows refuses it)
    base = Path(root) / safe_name(f"{prefix}-{stamp}")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_session_path(folder: str | os.PathLike[str], *, os_name: OsName | None = None) -> None:
    """Raise `RecordingError` when the session's files could not be opened on this OS (a
    path too long for Windows), before anything is written."""
    problem = path_too_long(Path(folder), LONGEST_FILE_NAME, os_name=os_name)
    if problem:
        raise RecordingError(problem)


def os_error_reason(exc: BaseException) -> str:
    """A stable name for why a write failed (what code branches on)."""
    if not isinstance(exc, OSError):
        return "error"
    return {
        errno.ENOSPC: "disk_full",
        errno.EDQUOT: "disk_full",
        errno.EACCES: "permission",
        errno.EPERM: "permission",
        errno.EROFS: "read_only",
        errno.ENOENT: "folder_gone",
    }.get(exc.errno or 0, "os_error")


def describe_os_error(exc: BaseException, folder: Path) -> str:
    """A message a user understands for a write failure."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full: no space left in {folder}"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write to {folder}: permission denied"
    if code == errno.EROFS:
        return f"cannot write to {folder}: read-only file system"
    if code == errno.ENOENT:
        return f"the recording folder {folder} disappeared"
    return f"writing to {folder} failed: {exc}"
