"""Watching a recording process from outside (signal tests and `cer bench faults`)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def wait_for_frames(
    manifests: Callable[[], Iterable[Path]],
    proc: subprocess.Popen[Any],
    want: int,
    timeout: float,
    poll: float = 0.1,
) -> int:
    """Wait until a session manifest from `manifests()` says `want` frames were written, the
    process ends or `timeout` s pass; returns the most frames written that any manifest said."""
    deadline, written = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and proc.poll() is None and written < want:
        for m in manifests():
            try:
                written = max(
                    written, json.loads(m.read_text(encoding="utf-8")).get("frames_written") or 0
                )
            except (OSError, ValueError):  # not written yet, or caught mid-rewrite
                pass
        time.sleep(poll)
    return written
