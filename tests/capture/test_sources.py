"""Frame sources: the state machine, conversions, arrays, files, folders, cameras, dispatch."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC
from pathlib import Path

import cv2
import numpy as np
import pytest

from cer_desktop.capture.sources import (
    ArraySource,
    CameraInfo,
    CameraSource,
    DemoSource,
    IllegalTransition,
    ImageFolderSource,
    SourceError,
    SourceState,
    VideoFileSource,
    list_cameras,
    open_source,
    to_rgb,
)


def read_all(source, limit: int = 10_000) -> list:
    frames = []
    for _ in range(limit):
        frame = source.read()
        if frame is None:
            return frames
        frames.append(frame)
    raise AssertionError(f"{source.description} did not end within {limit} frames")


def write_clip(path: Path, n: int = 20, fps: int = 25, size=(96, 64)) -> list[np.ndarray]:
    """Write an MPEG-4 clip of `n` frames whose brightness ramps; return what was written."""
    import av

    w, h = size
    frames = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.full((h, w, 3), 10 + 10 * i, dtype=np.uint8)
            img[:, : w // 2, 0] = 200  # a red half so the channel order is checked too
            frames.append(img)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


# --- to_rgb ---------------------------------------------------------------------------------


def test_to_rgb_turns_grey_into_three_equal_channels():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for image in (grey, grey[..., None]):
        out = to_rgb(image)
        assert out.shape == (3, 4, 3) and out.dtype == np.uint8
        assert all(np.array_equal(out[..., c], grey) for c in range(3))


def test_to_rgb_reorders_bgra_and_drops_alpha():
    # Given an OpenCV-order BGRA image (blue=10, green=20, red=30, alpha=40)
    bgra = np.zeros((5, 7, 4), dtype=np.uint8)
    bgra[...] = (10, 20, 30, 40)
    # When converted as BGR, and as RGBA by default
    rgb = to_rgb(bgra, bgr=True)
    rgba = to_rgb(bgra)
    # Then the channels come out red, green, blue and alpha is gone
    assert rgb.shape == (5, 7, 3) and tuple(rgb[0, 0]) == (30, 20, 10)
    assert tuple(rgba[0, 0]) == (10, 20, 30)


def test_to_rgb_scales_floats_and_wide_integers():
    unit = np.full((2, 2, 3), 0.5, dtype=np.float32)
    wide = np.full((2, 2, 3), 200.0)
    nan = np.full((2, 2), np.nan)
    u16 = np.full((2, 2, 3), 65535, dtype=np.uint16)
    assert to_rgb(unit)[0, 0, 0] == 128, "floats up to 1 are 0..1 intensities"
    assert to_rgb(wide)[0, 0, 0] == 200, "larger floats are 0..255 already"
    assert to_rgb(nan)[0, 0, 0] == 0
    assert to_rgb(u16)[0, 0, 0] == 255
    assert to_rgb(np.full((2, 2), 300, dtype=np.int32))[0, 0, 0] == 255


def test_to_rgb_keeps_odd_sizes_and_makes_strided_views_contiguous():
    image = np.random.default_rng(0).integers(0, 255, (67, 95, 3), dtype=np.uint8)
    view = image[::2, ::3]  # (34, 32, 3), not contiguous
    out = to_rgb(view)
    assert out.shape == (34, 32, 3) and out.flags.c_contiguous
    assert np.array_equal(out, view)
    assert to_rgb(image[:33, :47]).shape == (33, 47, 3)


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((0, 5, 3), np.uint8), np.zeros(5), "pixels"]
)
def test_to_rgb_rejects_what_is_not_an_image(bad):
    with pytest.raises(ValueError, match="image"):
        to_rgb(bad)


# --- state machine and ArraySource -----------------------------------------------------------


def test_state_machine_rejects_illegal_transitions():
    source = ArraySource([np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(IllegalTransition, match="cannot read from a idle source"):
        source.read()
    source.open()
    assert source.state is SourceState.RUNNING
    with pytest.raises(IllegalTransition, match="cannot open a running source"):
        source.open()
    source.close()
    source.close()  # closing twice is allowed
    assert source.state is SourceState.STOPPED
    with pytest.raises(IllegalTransition, match="stopped"):
        source.read()
    with pytest.raises(IllegalTransition, match="stopped"):
        source.open()


def test_array_source_numbers_and_timestamps_frames_in_order():
    # Given five grey arrays, when read through an ArraySource
    images = [np.full((6, 8), i, np.uint8) for i in range(5)]
    with ArraySource(images) as source:
        frames = read_all(source)
    # Then ids count up from 0, times never go back, wall times are UTC, images are RGB
    assert [f.frame_id for f in frames] == [0, 1, 2, 3, 4]
    t = [f.t_capture for f in frames]
    assert t == sorted(t)
    assert all(f.wall_time.tzinfo is UTC for f in frames)
    assert all(f.image.shape == (6, 8, 3) and f.image[0, 0, 0] == i for i, f in enumerate(frames))
    assert not frames[0].image.flags.writeable, "frames are frozen"
    assert source.is_live is False and source.fps is None


def test_live_array_source_paces_itself_and_loops():
    # Given a live source at 50 fps that loops over two images
    source = ArraySource([np.zeros((4, 4, 3), np.uint8)] * 2, fps=50, live=True, loop=True)
    with source:
        frames = [source.read() for _ in range(6)]
    # Then it kept delivering past its two images, no faster than 50 frames a second
    assert source.is_live and source.fps == 50
    assert [f.frame_id for f in frames] == list(range(6))
    span = frames[-1].t_capture - frames[0].t_capture
    assert span >= 5 * 0.02 * 0.8, f"6 frames at 50 fps took only {span * 1000:.0f} ms"


def test_array_source_needs_images():
    with pytest.raises(ValueError, match="at least one"):
        ArraySource([])


# --- VideoFileSource ------------------------------------------------------------------------


def test_video_file_source_reads_back_every_frame_at_native_fps(tmp_path):
    # Given a 20-frame, 25 fps clip written with PyAV
    path = tmp_path / "clip.mp4"
    written = write_clip(path, n=20, fps=25)
    # When it is read through VideoFileSource
    source = VideoFileSource(path)
    with source:
        frames = read_all(source)
    # Then all 20 frames come back in order, RGB, at 25 fps
    assert source.fps == pytest.approx(25.0)
    assert len(frames) == 20
    assert frames[0].image.shape == (64, 96, 3)
    means = [float(f.image[:, 60:].mean()) for f in frames]
    assert means == sorted(means), "frames out of order"
    assert abs(frames[5].image[:, :40, 0].mean() - 200) < 12, "red half lost: channel order?"
    assert abs(means[7] - written[7][:, 60:].mean()) < 6


def test_video_file_source_loops_when_asked(tmp_path):
    path = tmp_path / "clip.mp4"
    write_clip(path, n=5)
    with VideoFileSource(path, loop=True) as source:
        frames = [source.read() for _ in range(12)]
    assert all(f is not None for f in frames), "a looping file must not end"
    assert [f.frame_id for f in frames] == list(range(12))


def test_corrupt_video_file_gives_a_clear_source_error(tmp_path):
    # Given random bytes named like a video
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    source = VideoFileSource(path)
    # When opened, then SourceError names the file and why
    with pytest.raises(SourceError, match=r"cannot open video .*broken\.mp4: .*[Ii]nvalid data"):
        source.open()
    assert source.state is SourceState.IDLE


def test_missing_video_file_gives_a_clear_source_error(tmp_path):
    with pytest.raises(SourceError, match=r"cannot open video .*nope\.mp4: no such file"):
        VideoFileSource(tmp_path / "nope.mp4").open()


def test_decode_error_mid_stream_is_a_source_error(tmp_path):
    # Given an open clip whose decoder fails after the first frame
    path = tmp_path / "clip.mp4"
    write_clip(path, n=5)
    source = VideoFileSource(path)
    source.open()

    def failing():
        raise ValueError("Invalid data found when processing input")
        yield  # pragma: no cover

    source.read()
    source._decoder = failing()
    # When the next frame is read, then a SourceError says where decoding failed
    with pytest.raises(SourceError, match=r"decode error in .*clip\.mp4 after frame 1"):
        source.read()
    source.close()


# --- ImageFolderSource ----------------------------------------------------------------------


def test_image_folder_reads_in_natural_order_and_skips_unreadable_files(tmp_path, caplog):
    # Given frame1, frame2, frame10 (distinct greys), a corrupt frame3 and a non-image
    for n in (10, 1, 2):
        cv2.imwrite(str(tmp_path / f"frame{n}.png"), np.full((8, 10), n * 10, np.uint8))
    (tmp_path / "frame3.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    source = ImageFolderSource(tmp_path)
    # When read to the end
    with caplog.at_level(logging.WARNING), source:
        frames = read_all(source)
    # Then 1, 2, 10 come back as RGB, and frame3 was skipped with a warning
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 100]
    assert frames[0].image.shape == (8, 10, 3)
    assert [p.name for p, _ in source.skipped] == ["frame3.png"]
    assert "frame3.png" in caplog.text
    assert source.current_path is not None and source.current_path.name == "frame10.png"


def test_image_folder_errors_are_named(tmp_path):
    with pytest.raises(SourceError, match="no such folder"):
        ImageFolderSource(tmp_path / "missing").open()
    with pytest.raises(SourceError, match="no images in"):
        ImageFolderSource(tmp_path).open()
    (tmp_path / "a.jpg").write_bytes(b"garbage")
    source = ImageFolderSource(tmp_path)
    source.open()
    with pytest.raises(SourceError, match="none of the images"):
        source.read()


# --- cameras --------------------------------------------------------------------------------


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


# --- open_source ----------------------------------------------------------------------------


def test_open_source_dispatches_on_the_spec(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, n=2)
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    folder = tmp_path / "frames"
    folder.mkdir()

    assert isinstance(open_source("demo"), DemoSource)
    for spec, device in (("camera:2", 2), ("2", 2), ("/dev/video0", "/dev/video0"),
                         ("camera:/dev/video1", "/dev/video1")):  # fmt: skip
        cam = open_source(spec, width=320, height=240, fps=15)
        assert isinstance(cam, CameraSource) and cam.device == device, spec
        assert (cam.width, cam.height, cam.requested_fps) == (320, 240, 15.0)
    assert isinstance(open_source(str(clip)), VideoFileSource)
    assert isinstance(open_source(str(folder)), ImageFolderSource)
    still = open_source(str(tmp_path / "still.png"))
    with still:
        assert still.read().image.shape == (8, 8, 3)


@pytest.mark.parametrize("spec", ["", "   ", "/no/such/clip.mp4"])
def test_open_source_names_bad_specs(spec):
    with pytest.raises(SourceError, match="no source given|no such file or folder"):
        open_source(spec)


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
