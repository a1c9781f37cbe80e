"""Cameras: missing devices, a camera that stops or never delivers, unplugged and back."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from cer_desktop.capture.sources import (
    CameraInfo,
    CameraSource,
    IllegalTransition,
    SourceError,
    SourceState,
    list_cameras,
)


class FakeCapture:
    """A cv2.VideoCapture stand-in that delivers `good` BGR frames, then fails forever."""

    def __init__(self, good: int, shape=(48, 64, 3)) -> None:
        self.good, self.shape, self.released = good, shape, False

    def __call__(self, device, backend):
        return self

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def set(self, prop, value) -> bool:
        return True

    def get(self, prop) -> float:
        return 0.0

    def read(self):
        if self.good <= 0:
            return False, None
        self.good -= 1
        img = np.zeros(self.shape, np.uint8)
        img[..., 0] = 255  # blue in OpenCV order
        return True, img

    def release(self) -> None:
        self.released = True


def test_missing_camera_index_is_a_source_error():
    with pytest.raises(SourceError, match="no camera at index 3"):
        CameraSource(3).open()


def test_missing_camera_device_path_is_a_source_error():
    with pytest.raises(SourceError, match="no camera at /dev/video97"):
        CameraSource("/dev/video97").open()


def test_camera_that_stops_delivering_frames_raises_source_error():
    # Given a camera that delivers 3 frames and then nothing
    fake = FakeCapture(good=3)
    source = CameraSource(0, capture_factory=fake, max_failures=5, stall_timeout=5.0)
    source.open()
    frames = [source.read() for _ in range(3)]
    # Then the frames are RGB (blue stays blue) and the 4th read says the camera stopped
    assert tuple(frames[0].image[0, 0]) == (0, 0, 255)
    with pytest.raises(SourceError, match="camera stopped delivering frames"):
        source.read()
    source.close()
    assert fake.released


def test_camera_that_opens_but_never_delivers_is_a_source_error():
    source = CameraSource(0, capture_factory=FakeCapture(good=0), open_timeout=0.05)
    with pytest.raises(SourceError, match="delivered no frame"):
        source.open()


def test_list_cameras_finds_only_cameras_that_exist():
    # Given this machine (no /dev/video* devices), when cameras are listed
    started = time.monotonic()
    cameras = list_cameras()
    # Then the result lists CameraInfo values only, none at all without video devices
    assert all(isinstance(c, CameraInfo) for c in cameras)
    if not any(p.startswith("video") for p in os.listdir("/dev")):
        assert cameras == []
    assert time.monotonic() - started < 30, "listing cameras hung"


def test_closing_a_camera_waits_for_the_read_in_flight():
    # Given a camera whose reads take a while, read from another thread
    class SlowCapture(FakeCapture):
        def __init__(self) -> None:
            super().__init__(good=1_000)
            self.reading = False
            self.overlap = False

        def read(self):
            self.reading = True
            time.sleep(0.05)
            self.reading = False
            return super().read()

        def release(self) -> None:
            self.overlap = self.overlap or self.reading
            super().release()

    fake = SlowCapture()
    source = CameraSource(0, capture_factory=fake)
    source.open()
    errors: list[BaseException] = []

    def reader():
        try:
            while source.state is SourceState.RUNNING:
                source.read()
        except (SourceError, IllegalTransition) as exc:  # closed under our feet: expected
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.12)
    # When it is closed meanwhile
    source.close()
    thread.join(5)
    # Then the driver was never released in the middle of a read
    assert fake.released and not fake.overlap, "released while a read was in flight"
    assert not thread.is_alive()


class UnpluggedCapture(FakeCapture):
    """Delivers `good` frames, is unplugged (does not open, reads fail) for `gone` opening
    attempts, then is plugged back in and delivers frames forever."""

    def __init__(self, good: int, gone: int) -> None:
        super().__init__(good)
        self.gone, self.opens, self.plugged = gone, 0, True

    def __call__(self, device, backend):
        self.opens += 1
        if self.opens > 1:  # a reopening attempt
            self.plugged = self.opens > 1 + self.gone
            if self.plugged:
                self.good = 10**9
        return self

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.plugged

    def read(self):
        if self.good <= 0:
            self.plugged = False
        return super().read()


def test_a_lost_camera_raises_source_lost_and_comes_back_by_itself():
    from cer_desktop.capture.base import SourceLost

    # given a camera that delivers 3 frames, is gone for 2 reopening attempts, then returns
    fake = UnpluggedCapture(good=3, gone=2)
    source = CameraSource(
        0, capture_factory=fake, max_failures=3, stall_timeout=5.0, reconnect_interval=0.0
    )
    source.open()
    assert [source.read().frame_id for _ in range(3)] == [0, 1, 2]
    # when it stops delivering, reading says it is lost (a SourceError the caller can retry)
    for attempt in range(3):
        with pytest.raises(SourceLost):
            source.read()
        assert source.lost and source.state is SourceState.RUNNING, attempt
    # then the next attempt finds it back: frames flow again, frame ids continue
    frame = source.read()
    assert frame is not None and frame.frame_id == 3
    assert not source.lost and source.reconnects == 1
    assert source.read().frame_id == 4
    source.close()


def test_reconnecting_can_be_switched_off():
    source = CameraSource(0, capture_factory=FakeCapture(good=1), max_failures=2, reconnect=False)
    source.open()
    source.read()
    with pytest.raises(SourceError) as info:
        source.read()
    from cer_desktop.capture.base import SourceLost

    assert not isinstance(info.value, SourceLost)
    source.close()
