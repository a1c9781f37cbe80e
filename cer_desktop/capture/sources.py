"""Every frame source behind one door: `open_source(spec)`, plus `ArraySource` for tests.

Specs: "demo"; a camera as "camera:0", "0", "/dev/video0" or "camera:/dev/video0"; a video
file path; an image folder (or a single image file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cer_desktop.capture.base import FrameSource, IllegalTransition, SourceError, SourceState
from cer_desktop.capture.camera import CameraInfo, CameraSource
from cer_desktop.capture.camera_list import CameraPermissionDenied, list_cameras
from cer_desktop.capture.convert import to_rgb
from cer_desktop.capture.demo import DEFAULT_SCRIPT, DemoSource, DemoStep
from cer_desktop.capture.files import ImageFolderSource, VideoFileSource
from cer_desktop.capture.pacing import Pacer
from cer_desktop.option_values import IMAGE_SUFFIXES

__all__ = [
    "DEFAULT_SCRIPT",
    "ArraySource",
    "CameraInfo",
    "CameraPermissionDenied",
    "CameraSource",
    "DemoSource",
    "DemoStep",
    "FrameSource",
    "IllegalTransition",
    "ImageFolderSource",
    "SourceError",
    "SourceState",
    "VideoFileSource",
    "list_cameras",
    "open_source",
    "to_rgb",
]


class ArraySource(FrameSource):
    """Frames from a list of arrays (any layout `to_rgb` reads), for tests and benchmarks.

    Finite by default (`read()` returns None after the last image); `loop=True` repeats.
    `live=True` makes it a live source paced at `fps` (30 when not given), like a camera.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        fps: float | None = None,
        live: bool = False,
        *,
        loop: bool = False,
        description: str = "",
    ) -> None:
        super().__init__(description or f"{len(images)} arrays")
        if len(images) == 0:
            raise ValueError("ArraySource needs at least one image")
        # Convert up front: a bad array is the caller's bug and should fail here, not mid-run.
        self._images = [to_rgb(np.asarray(a)) for a in images]
        self.is_live = bool(live)
        self._fps = float(fps) if fps else (30.0 if live else None)
        self._pacer = Pacer(self._fps) if self.is_live and self._fps else None
        self.loop = loop
        self._index = 0

    @property
    def fps(self) -> float | None:
        return self._fps

    def _open(self) -> None:
        self._index = 0

    def _read(self) -> np.ndarray | None:
        if self._index >= len(self._images):
            if not self.loop:
                return None
            self._index = 0
        if self._pacer is not None:
            self._pacer.wait()
        image = self._images[self._index]
        self._index += 1
        return image.copy()  # each frame owns its pixels (frames are frozen, arrays shared)

    def _close(self) -> None:
        if self._pacer is not None:
            self._pacer.interrupt()


_CAMERA_SPEC = re.compile(r"^(?:camera:)?(\d+)$|^camera:(.+)$", re.IGNORECASE)


def open_source(
    spec: str,
    *,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    loop: bool = False,
) -> FrameSource:
    """Build (not open) the source a spec names.

    - "demo": the built-in `DemoSource` at width x height and fps (it always loops).
    - "camera:0", "0", "/dev/video0", "camera:/dev/video0": a `CameraSource` asking for
      width x height at fps.
    - an existing folder: an `ImageFolderSource` (fps taken as the images' rate).
    - an existing image file: a one-image `ImageFolderSource`; any other file: a
      `VideoFileSource` (`loop` restarts files and folders at their end).

    Raises `SourceError` for an empty spec or a path that does not exist; errors of the
    source itself (no camera, unreadable file) come from its `open()`.
    """
    text = str(spec).strip()
    if not text:
        raise SourceError("no source given (use 'demo', a camera like 'camera:0', or a path)")
    if text.lower() == "demo":
        return DemoSource(width, height, fps, loop=True)
    m = _CAMERA_SPEC.match(text)
    if m:
        device: int | str = int(m.group(1)) if m.group(1) is not None else m.group(2).strip()
        return CameraSource(device, width=width, height=height, fps=fps)
    if text.startswith("/dev/video"):
        return CameraSource(text, width=width, height=height, fps=fps)
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps=fps, loop=loop)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFolderSource([path], fps=fps, loop=loop)
        return VideoFileSource(path, loop=loop)
    raise SourceError(
        f"no such file or folder: {text} (sources are 'demo', a camera like 'camera:0', "
        "a video file or an image folder)"
    )
