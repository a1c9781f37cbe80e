"""File-level steps of recovery: whole lines, CSV parts, originals kept, fragmented MP4s."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

ORIG_SUFFIX = ".orig"


def keep_original(path: Path) -> None:
    """Copy `path` to `NAME.orig` before recovery changes it; an existing `.orig` (the first
    original, from an earlier recovery) is never overwritten."""
    orig = path.with_name(path.name + ORIG_SUFFIX)
    if not orig.exists():
        tmp = orig.with_name(orig.name + ".tmp")
        try:
            shutil.copy2(path, tmp)
            os.replace(tmp, orig)
        except OSError:
            # No room for the copy (a full disk): change nothing, the caller's step fails.
            tmp.unlink(missing_ok=True)
            raise


def last_line_end(path: Path) -> int:
    """The offset just after the file's last newline (0 when it has none)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos, block = size, 65536
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            i = f.read(pos - start).rfind(b"\n")
            if i >= 0:
                return start + i + 1
            pos = start
    return 0


def truncate_to_last_line(path: Path) -> int:
    """Cut a file after its last newline (keeping the original); returns the bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    keep = last_line_end(path)
    if keep < size:
        keep_original(path)
        with open(path, "rb+") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return size - keep


def read_part(path: Path) -> tuple[list[str], list[list[str]], int]:
    """Header, whole rows and the number of malformed rows dropped."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows, bad = [], 0
        for row in reader:
            if len(row) == len(header):
                rows.append(row)
            else:
                bad += 1
    return header, rows, bad


def write_part(path: Path, header: list[str], rows: list[list[str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def is_fragmented(path: Path) -> bool:
    """True when the MP4 at `path` holds movie fragments (`moof` boxes at the top level)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if kind == b"moof":
                return True
            if box == 1 and len(head) == 16:
                box = int.from_bytes(head[8:16], "big")
            elif box == 0:
                return False  # the last box runs to the end of the file
            if box < 8:
                return False  # not a box: damaged, nothing to learn
            pos += box
    return False
