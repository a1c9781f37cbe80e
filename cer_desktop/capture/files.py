"""File sources: a video file decoded with PyAV, and a folder (or list) of still images."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError
from cer_desktop.capture.convert import to_rgb
from cer_desktop.contracts import Frame
from cer_desktop.option_values import IMAGE_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource", "VideoFileSource"]

log = logging.getLogger(__name__)


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded with PyAV as fast as they are read.

    `fps` is the file's native rate (the pipeline paces playback with it). `open()` checks
    that the file exists, has a video stream and that its first frame decodes, and raises
    `SourceError` naming the file and the reason otherwise; a decode error later on raises
    `SourceError` from `read()`. With `loop=True` the file restarts at its end. With `probe`
    (the default) the whole file is first decoded in a child process (`probe.py`), so a file
    that crashes the decoder is refused with a message instead of ending the app.
    `frame_time` is the presentation time (seconds, from the container's pts x time base) of
    the frame `read()` returned last: a variable-rate file (a recording with a capture gap)
    says there when each frame was shown, which n / fps cannot.
    """

    is_live = False

    def __init__(self, path: str | Path, *, loop: bool = False, probe: bool = True) -> None:
        self.path = Path(path)
        self.probe = probe
        super().__init__(f"video file {self.path}")
        self.loop = loop
        self._container: Any = None
        self._decoder: Iterator[Any] | None = None
        self._pending: np.ndarray | None = None
        self._pending_time: float | None = None
        self._decoded_time: float | None = None  # of the frame `_decode_next` decoded last
        self.frame_time: float | None = None
        self._fps: float | None = None
        self._frame_count: int | None = None
        self._decoded = 0
        # Held around decoding and closing: closing a container that another thread is
        # decoding from can crash FFmpeg.
        self._av_lock = threading.RLock()

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frames the container says it holds (None when it does not say)."""
        return self._frame_count

    def _open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"cannot open video {self.path}: no such file")
        if self.path.is_dir():
            raise SourceError(f"cannot open video {self.path}: it is a folder")
        if self.probe:
            from cer_desktop.capture.probe import DecoderCrash, probe_video

            try:
                probe_video(self.path)
            except DecoderCrash as exc:
                raise SourceError(str(exc)) from exc
        self._start()
        try:
            self._pending = self._decode_next()
            self._pending_time = self._decoded_time
        except SourceError:
            self._release()
            raise
        if self._pending is None:
            self._release()
            raise SourceError(f"cannot read video {self.path}: it holds no frames")

    def _start(self) -> None:
        import av

        try:
            self._container = av.open(str(self.path))
        except Exception as exc:  # PyAV raises FFmpegError subclasses, OSError, ValueError...
            raise SourceError(f"cannot open video {self.path}: {_reason(exc)}") from exc
        try:
            streams = self._container.streams.video
            if not streams:
                raise SourceError(f"cannot open video {self.path}: it has no video stream")
            stream = streams[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self._fps = float(rate) if rate else None
            self._frame_count = int(stream.frames) or None
            self._decoder = self._container.decode(stream)
        except SourceError:
            self._release()
            raise
        except Exception as exc:
            self._release()
            raise SourceError(f"cannot open video {self.path}: {_reason(exc)}") from exc

    def _decode_next(self) -> np.ndarray | None:
        with self._av_lock:
            if self._decoder is None:
                raise SourceError(f"video {self.path} was closed")
            try:
                frame = next(self._decoder)
                image = frame.to_ndarray(format="rgb24")
                self._decoded_time = frame.time  # pts x time base; None when the file has none
            except StopIteration:
                return None
            except Exception as exc:
                raise SourceError(
                    f"decode error in {self.path} after frame {self._decoded}: {_reason(exc)}"
                ) from exc
            self._decoded += 1
        return to_rgb(image)

    def _read(self) -> np.ndarray | None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.frame_time = self._pending_time
            return pending
        image = self._decode_next()
        if image is None and self.loop and self._decoded > 0:
            # Reopen rather than seek: seeking is unreliable on some containers and codecs.
            self._release()
            self._decoded = 0
            self._start()
            image = self._decode_next()
        self.frame_time = self._decoded_time if image is not None else None
        return image

    def _close(self) -> None:
        self._release()

    def _release(self) -> None:
        with self._av_lock:
            self._decoder = None
            if self._container is not None:
                try:
                    self._container.close()
                except Exception:  # closing a broken container must not mask the real error
                    log.debug("closing %s failed", self.path, exc_info=True)
                self._container = None


class ImageFolderSource(FrameSource):
    """The images of a folder in natural sort order (frame2 before frame10), or a given list.

    Unreadable images are skipped with a logged warning and listed in `skipped`, so one bad
    file does not end a long offline run; `open()` raises `SourceError` when the folder does
    not exist or holds no images, and `read()` raises it when no image at all could be read.
    `fps` is what the caller says the images were taken at (None: unknown). `current_path`
    is the file of the frame last returned.
    """

    is_live = False

    def __init__(
        self,
        folder: str | Path | Sequence[str | Path],
        *,
        fps: float | None = None,
        loop: bool = False,
    ) -> None:
        if isinstance(folder, (str, Path)):
            self.folder: Path | None = Path(folder)
            self._given: list[Path] | None = None
            description = f"image folder {self.folder}"
        else:
            self.folder = None
            self._given = [Path(p) for p in folder]
            description = f"{len(self._given)} image files"
        super().__init__(description)
        self._fps = float(fps) if fps else None
        self.loop = loop
        self.paths: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []
        self.current_path: Path | None = None
        self._index = 0
        self._read_ok = 0

    @property
    def fps(self) -> float | None:
        return self._fps

    def _open(self) -> None:
        if self._given is not None:
            self.paths = list(self._given)
        else:
            assert self.folder is not None
            if not self.folder.is_dir():
                raise SourceError(f"cannot open image folder {self.folder}: no such folder")
            self.paths = sorted(
                (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                key=_natural_key,
            )
        if not self.paths:
            raise SourceError(
                f"no images in {self.description} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._index = 0

    def _make_frame(self, image: np.ndarray, t_capture: float | None = None) -> Frame:
        """Frames name the image file they were read from (`Frame.path`)."""
        frame = super()._make_frame(image, t_capture)
        if self.current_path is None:
            return frame
        return dataclasses.replace(frame, path=str(self.current_path))

    def _read(self) -> np.ndarray | None:
        while True:
            if self._index >= len(self.paths):
                if self._read_ok == 0:
                    raise SourceError(f"none of the images in {self.description} could be read")
                if not self.loop:
                    return None
                self._index = 0
            path = self.paths[self._index]
            self._index += 1
            try:
                image = _read_image(path)
            except SourceError as exc:
                if not any(p == path for p, _ in self.skipped):
                    self.skipped.append((path, str(exc)))
                    log.warning("skipping %s", exc)
                continue
            self._read_ok += 1
            self.current_path = path
            return image

    def _close(self) -> None:
        pass


def _read_image(path: Path) -> np.ndarray:
    """Read one image file as RGB uint8; SourceError with the reason when it cannot be read."""
    try:
        # imdecode over bytes rather than imread: imread cannot open non-ASCII paths on Windows.
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read image {path}: {_reason(exc)}") from exc
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise SourceError(f"cannot read image {path}: not a readable image file")
    try:
        return to_rgb(image, bgr=True)
    except ValueError as exc:
        raise SourceError(f"cannot read image {path}: {exc}") from exc


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _reason(exc: BaseException) -> str:
    """A short human reason from an exception (PyAV messages carry errno noise)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)
