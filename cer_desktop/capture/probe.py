"""Decode a video once in a child process, so a decoder that crashes cannot take the app down.

FFmpeg (through PyAV 16.1 / FFmpeg 8.0.1 here) was seen to crash with SIGSEGV on the first
frame of a bit-flipped H.264 MP4 (`cer bench faults`, 2026-11-29): no Python exception can
catch that. Before a video file is opened in-process, `probe_video` decodes it in a child
Python that imports nothing but PyAV; a child killed by a signal means the file is damaged
in a way the decoder cannot survive, and it is refused with a message instead.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

# Runs in the child: `python -I -c _CHILD PATH` (isolated: no site or project imports).
_CHILD = """
import sys, av
n = 0
try:
    with av.open(sys.argv[1]) as c:
        if c.streams.video:
            for frame in c.decode(c.streams.video[0]):
                frame.to_ndarray(format="rgb24")
                n += 1
except Exception:
    pass  # ordinary errors are the in-process reader's to report
print(n)
"""


class DecoderCrash(RuntimeError):
    """The video decoder died (a signal) on this file."""


def probe_video(path: str | Path, timeout: float = 600.0) -> int:
    """Frames that decode from `path` in a child process; raises `DecoderCrash` when the
    decoder crashed on it. A timeout (a huge file) is not a crash: the count is then -1."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise DecoderCrash(f"the video decoder crashed ({name}) on {path}: the file is damaged")
    try:
        return int(done.stdout.split()[-1])
    except (IndexError, ValueError):
        return -1
