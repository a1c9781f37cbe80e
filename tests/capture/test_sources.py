"""Frame sources: the state machine, conversions, arrays, files, folders, dispatch."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

import cv2
import numpy as np
import pytest

from cer_desktop.capture.sources import (
    ArraySource,
    CameraSource,
    DemoSource,
    IllegalTransition,
    ImageFolderSource,
    SourceError,
    SourceState,
    VideoFileSource,
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
