"""What `cer annotate` reads and where it writes: inputs, their clocks, their session folders.

An input is a video file, an image file or a folder of images (`expand_inputs`). Each is read
through `RetimedSource`, which stamps each frame with the input's own time: a video frame's
presentation time in the container, an image's n / fps. Each gets the
session folder OUT/<name>; `claim_folder` decides whether that folder may be (re)used: only
an empty folder or an earlier, unfinished annotation of the same input is ever deleted.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError, SourceState
from cer_desktop.contracts import Frame
from cer_desktop.option_values import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from cer_desktop.portable.filenames import safe_name
from cer_desktop.recording import lease
from cer_desktop.recording.session_folder import Manifest, ManifestError, SessionStatus

__all__ = ["DEFAULT_IMAGE_FPS", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "InputItem", "RetimedSource"]

DEFAULT_IMAGE_FPS = 1.0


@dataclass(frozen=True)
class InputItem:
    """One thing to annotate: a video file, an image file or a folder of images."""

    path: Path
    kind: str  # "video" | "image" | "images"
    name: str  # the session folder's name under OUT (stable across runs)


def _safe(name: str) -> str:
    # letters, digits and -_. only, then valid on Windows too (no device names like "con",
    # no trailing dot, not too long)
    return safe_name("".join(c if c.isalnum() or c in "-_." else "_" for c in name))


def expand_inputs(inputs: Iterable[str | Path]) -> list[InputItem]:
    """Turn the command line's files and folders into inputs (missing paths included, as
    'video' items, so they are reported as failures rather than silently ignored)."""
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(path: Path, kind: str, name: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            items.append(InputItem(path, kind, _safe(name)))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            root_name = p.resolve().name or "input"
            for folder in [p, *sorted(d for d in p.rglob("*") if d.is_dir())]:
                rel = folder.relative_to(p)
                prefix = "__".join([root_name, *rel.parts])
                files = sorted(f for f in folder.iterdir() if f.is_file())
                if any(f.suffix.lower() in IMAGE_SUFFIXES for f in files):
                    add(folder, "images", prefix + "__images")
                for f in files:
                    if f.suffix.lower() in VIDEO_SUFFIXES:
                        add(f, "video", f"{prefix}__{f.name}")
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            add(p, "image", p.name)
        else:
            add(p, "video", p.name)
    return items


class RetimedSource(FrameSource):
    """Wraps a file source so each frame is stamped with the input's own time, not the time
    it happened to be processed at (offline runs go faster or slower than real time).

    A video frame's time is its presentation time (`VideoFileSource.frame_time`) counted from
    the first frame, so a variable-rate file (the app's own `raw.mp4` after a capture gap)
    keeps its gaps and lines up with the session that recorded it; a frame without one, or
    one not after the previous frame, is put 1 / fps after the previous. Images: n / fps.
    """

    is_live = False

    def __init__(self, inner: FrameSource, fps: float) -> None:
        super().__init__(inner.description)
        self.inner = inner
        self._fps = fps
        self._n = 0
        self._t0 = time.monotonic()
        self._wall0 = datetime.now(UTC)
        self.t_current = 0.0  # the stamp of the frame last read (the instant recognizer's clock)
        self._shown: float | None = None  # the presentation time of the frame being stamped
        self._first_shown: float | None = None
        self.paths: list[str] = []  # file of each frame, for image inputs
        # Frames of one stream (a video, or images given a frame rate): faces are tracked and
        # baselines learned. Otherwise each image is a still on its own.
        self.sequence = True
        self._stop_requested = False

    def request_stop(self) -> None:
        """End the input after the frame being read (a signal asked to stop): the next read
        says "end", so the run finishes as at the end of a file. Safe from a signal handler."""
        self._stop_requested = True

    @property
    def fps(self) -> float | None:
        return self._fps

    def _open(self) -> None:
        if self.inner.state is SourceState.IDLE:
            self.inner.open()

    def _read(self) -> np.ndarray | None:
        if self._stop_requested:
            return None
        frame = self.inner.read()
        if frame is None:
            return None
        current = getattr(self.inner, "current_path", None)
        if current is not None:
            self.paths.append(str(current))
        self._shown = getattr(self.inner, "frame_time", None)
        return np.asarray(frame.image)

    def _own_time(self) -> float:
        """Seconds from the input's first frame to the frame being stamped."""
        if self._n == 0:
            self._first_shown = self._shown
        if self._first_shown is None:  # images, or a video whose frames carry no times
            return self._n / self._fps
        if self._n == 0:
            return 0.0
        t = None if self._shown is None else self._shown - self._first_shown
        if t is None or t <= self.t_current:  # no usable time: keep the order, one step on
            t = self.t_current + 1.0 / self._fps
        return t

    def _make_frame(self, image: np.ndarray, t_capture: float | None = None) -> Frame:
        self.t_current = self._own_time()
        self._n += 1
        frame = super()._make_frame(image, t_capture=self._t0 + self.t_current)
        # Wall time on the same clock: the run's start plus the input's own time.
        return dataclasses.replace(
            frame,
            wall_time=self._wall0 + timedelta(seconds=self.t_current),
            path=self.paths[-1] if self.paths else "",
        )

    def _close(self) -> None:
        self.inner.close()


def open_input(item: InputItem, fps: float | None) -> tuple[RetimedSource, int | None]:
    from cer_desktop.capture.files import ImageFolderSource, VideoFileSource

    inner: FrameSource
    total: int | None
    if item.kind == "video":
        if not item.path.exists():
            raise SourceError(f"cannot open {item.path}: no such file")
        inner = VideoFileSource(item.path)
        inner.open()  # probes: raises SourceError for a corrupt file before any output exists
        rate = fps or inner.fps or 30.0
        total = inner.frame_count
    elif item.kind == "image":
        inner = ImageFolderSource([item.path])
        inner.open()
        rate, total = fps or DEFAULT_IMAGE_FPS, 1
    else:
        inner = ImageFolderSource(item.path)
        inner.open()
        rate, total = fps or DEFAULT_IMAGE_FPS, len(inner.paths)
    source = RetimedSource(inner, rate)
    source.sequence = item.kind == "video" or (item.kind == "images" and fps is not None)
    source.open()  # the inner source is open already; this only moves the wrapper to RUNNING
    return source, total


def is_done(folder: Path, item: InputItem) -> bool:
    try:
        m = Manifest.read(folder)
    except ManifestError:
        return False
    return bool(m.input_complete) and m.input == str(item.path.resolve())


def claim_folder(folder: Path, item: InputItem, *, force: bool = False) -> str | None:
    """Make `folder` ready for a fresh annotation of `item`; the reason when it may not be.

    Deleted: nothing but an empty folder or a session whose manifest says it is an annotation
    of this very input that did not finish (or, with `force`, one that did). Anything else
    under that name (the user's files, a live recording, another input's annotation) is
    left alone and reported.
    """
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder} exists and is not a folder; not touching it"
    if not any(folder.iterdir()):
        folder.rmdir()
        return None
    try:
        m: Manifest | None = Manifest.read(folder)
    except ManifestError:
        m = None
    ours = m is not None and m.mode == "annotate" and m.input == str(item.path.resolve())
    if m is None or not ours or (m.input_complete and not force):
        return (
            f"{folder} exists and is not an earlier annotation of {item.path};"
            " not touching it (move it away or choose another output folder)"
        )
    # A shard on another node (or another process here) may be annotating it right now: its
    # lease says so (recording/lease.py), whatever `force` says.
    recording = m.status is SessionStatus.RECORDING
    verdict = lease.judge_one(folder, m.to_dict()) if recording else None
    if verdict is not None and verdict.live:
        return f"{folder} is being annotated by another process ({verdict.reason}); not touching it"
    shutil.rmtree(folder)  # our own interrupted or failed attempt: start again
    return None


def inputs_containing(out: Path, inputs: Sequence[str | Path]) -> list[Path]:
    """The input folders that `out` is or lies inside: writing there would feed the run's own
    output back in as input on the next run."""
    target = out.resolve()
    found = []
    for raw in inputs:
        p = Path(raw).resolve()
        if p.is_dir() and (target == p or p in target.parents):
            found.append(Path(raw))
    return found
