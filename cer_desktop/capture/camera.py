"""Cameras through OpenCV: open by index or device path, detect a dead camera.

Listing them, with names per OS, is `camera_list.py`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError, SourceLost, SourceState
from cer_desktop.capture.convert import to_rgb
from cer_desktop.portable.system import OsName, current_os

__all__ = ["CameraInfo", "CameraSource", "backend_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera found: its OpenCV index and backend (V4L2, DSHOW, AVFOUNDATION), its device
    path (Linux; Windows' device id) and name."""

    index: int
    path: str | None = None
    name: str = ""
    backend: str = ""

    @property
    def spec(self) -> str:
        """What to give `open_source()` to open this camera."""
        return f"camera:{self.index}"

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path and self.path.startswith("/dev/") else ""
        via = f" [{self.backend}]" if self.backend else ""
        return f"camera {self.index}: {self.name or 'camera'}{where}{via}"


def backend_for(os_name: OsName | None = None) -> tuple[int, str]:
    """The OpenCV capture backend (id, name) cameras are listed and opened with, per OS."""
    os_name = os_name or current_os()
    if os_name == "windows":
        return int(cv2.CAP_DSHOW), "DSHOW"  # opens fast; MSMF can take seconds per index
    if os_name == "macos":
        return int(cv2.CAP_AVFOUNDATION), "AVFOUNDATION"
    return int(cv2.CAP_V4L2), "V4L2"


def _backend() -> int:
    return backend_for()[0]


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's stderr warnings while probing devices that may not exist."""
    set_level = getattr(cv2, "setLogLevel", None)
    if set_level is None:
        yield
        return
    old = set_level(0)
    try:
        yield
    finally:
        set_level(old if isinstance(old, int) else 3)


CaptureFactory = Callable[..., Any]
"""Builds a `cv2.VideoCapture`-like object from (index or path, backend); injectable for tests."""


class CameraSource(FrameSource):
    """A live camera, by OpenCV index (0, 1, ...) or device path ("/dev/video0").

    The requested `width`, `height` and `fps` are asked of the driver (cameras may pick the
    nearest mode they support). `open()` raises `SourceError` ("no camera at index 3") when
    the camera does not exist or delivers no first frame within `open_timeout` seconds.
    `read()` raises `SourceError` ("camera stopped delivering frames") after `max_failures`
    consecutive failed reads or `stall_timeout` seconds without a frame. The camera paces
    itself, so `read()` adds no sleep of its own.

    With `reconnect` (the default) a camera that stops delivering is released and `read()`
    raises `SourceLost` instead; later reads try to open it again (at most once per
    `reconnect_interval` s, each try waiting up to `reconnect_timeout` s for a frame) and
    return frames again once it is back (`reconnects` counts the returns). The caller decides
    how long to wait; the source stays RUNNING meanwhile.
    """

    is_live = True

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        max_failures: int = 10,
        stall_timeout: float = 2.0,
        open_timeout: float = 5.0,
        capture_factory: CaptureFactory | None = None,
        reconnect: bool = True,
        reconnect_interval: float = 1.0,
        reconnect_timeout: float = 1.0,
    ) -> None:
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)
        self.device = device
        where = f"index {device}" if isinstance(device, int) else str(device)
        super().__init__(f"camera at {where}")
        self.width, self.height, self.requested_fps = int(width), int(height), float(fps)
        self.max_failures = max(int(max_failures), 1)
        self.stall_timeout = float(stall_timeout)
        self.open_timeout = float(open_timeout)
        self._factory: CaptureFactory = capture_factory or cv2.VideoCapture
        self._cap: Any = None
        # Held around every driver call: releasing a capture while another thread is inside
        # read() can crash the driver, so close() waits for the read in flight.
        self._cap_lock = threading.Lock()
        self._pending: np.ndarray | None = None
        self._last_good = 0.0
        self._actual_fps: float | None = None
        self.reconnect = reconnect
        self.reconnect_interval = max(0.0, float(reconnect_interval))
        self.reconnect_timeout = max(0.01, float(reconnect_timeout))
        self._lost_since: float | None = None
        self._next_try = 0.0
        self.reconnects = 0

    @property
    def fps(self) -> float | None:
        return self._actual_fps or self.requested_fps

    @property
    def lost(self) -> bool:
        """True while the camera is gone and being retried."""
        return self._lost_since is not None

    def _open(self) -> None:
        self._connect(self.open_timeout)

    def _connect(self, first_frame_timeout: float) -> None:
        if isinstance(self.device, str) and not Path(self.device).exists():
            raise SourceError(f"no camera at {self.device}: no such device")
        if isinstance(self.device, int) and self.device < 0:
            raise SourceError(f"no camera at index {self.device}: indexes start at 0")
        with quiet_opencv():
            try:
                cap = self._factory(self.device, _backend())
            except Exception as exc:
                raise SourceError(f"no camera at {self._where()}: {exc}") from exc
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                raise SourceError(f"no camera at {self._where()}")
            self._cap = cap
            # MJPG lets USB cameras deliver 640x480 at 30 fps; ignored where unsupported.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.requested_fps)
            # A one-frame driver buffer keeps the latency of a slow consumer low.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        actual = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._actual_fps = actual if 0.0 < actual < 1000.0 else None
        deadline = time.monotonic() + first_frame_timeout
        while True:
            image = self._grab()
            if image is not None:
                self._pending = image
                self._last_good = time.monotonic()
                return
            if time.monotonic() > deadline:
                self._release()
                raise SourceError(
                    f"the camera at {self._where()} opened but delivered no frame "
                    f"within {first_frame_timeout:g} s (is another program using it?)"
                )
            time.sleep(0.02)

    def _where(self) -> str:
        return f"index {self.device}" if isinstance(self.device, int) else str(self.device)

    def _grab(self) -> np.ndarray | None:
        with self._cap_lock:
            if self._cap is None:
                raise SourceError(f"the camera at {self._where()} was closed")
            try:
                ok, image = self._cap.read()
            except cv2.error:
                return None
        if not ok or image is None or getattr(image, "size", 0) == 0:
            return None
        try:
            return to_rgb(image, bgr=True)
        except ValueError:
            return None

    def _read(self) -> np.ndarray | None:
        if self._lost_since is not None:
            return self._try_reconnect()
        pending, self._pending = self._pending, None
        if pending is not None:
            return pending
        failures = 0
        while True:
            image = self._grab()
            if image is not None:
                self._last_good = time.monotonic()
                return image
            failures += 1
            stalled = time.monotonic() - self._last_good > self.stall_timeout
            if failures >= self.max_failures or stalled:
                message = (
                    f"camera stopped delivering frames ({self.description}: {failures} failed "
                    f"reads, {time.monotonic() - self._last_good:.1f} s since the last frame)"
                )
                if not self.reconnect:
                    raise SourceError(message)
                self._release()
                self._lost_since = time.monotonic()
                self._next_try = self._lost_since + self.reconnect_interval
                raise SourceLost(message)
            time.sleep(0.01)

    def _try_reconnect(self) -> np.ndarray:
        """One reopening attempt when it is due; the first frame, or `SourceLost`."""
        assert self._lost_since is not None
        now = time.monotonic()
        gone = f"the camera at {self._where()} is gone ({now - self._lost_since:.1f} s)"
        if now < self._next_try:
            raise SourceLost(gone)
        self._next_try = now + self.reconnect_interval
        try:
            self._connect(self.reconnect_timeout)
        except SourceError as exc:
            raise SourceLost(f"{gone}; reconnecting failed: {exc}") from exc
        if self.state is not SourceState.RUNNING:  # closed while reconnecting
            self._release()
            raise SourceError(f"the camera at {self._where()} was closed")
        image, self._pending = self._pending, None
        assert image is not None  # _connect keeps the first frame
        self._lost_since = None
        self.reconnects += 1
        log.info("the camera at %s is back", self._where())
        return image

    def _close(self) -> None:
        self._release()

    def _release(self) -> None:
        if not self._cap_lock.acquire(timeout=5.0):
            # A read stuck in the driver: leave the device to the process exit, never crash.
            log.warning("the camera at %s is stuck in a read; not released", self._where())
            return
        try:
            if self._cap is not None:
                with contextlib.suppress(Exception):
                    self._cap.release()
                self._cap = None
        finally:
            self._cap_lock.release()
