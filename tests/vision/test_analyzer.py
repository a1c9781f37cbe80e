"""FaceAnalyzer: frames in, frozen Face values out; bad frames never crash it."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from cer_desktop.contracts import Face, Frame
from cer_desktop.vision.alignment import TEMPLATE, five_points, similarity_matrix
from cer_desktop.vision.analyzer import FaceAnalyzer


def _frame(i: int, image: np.ndarray) -> Frame:
    return Frame(frame_id=i, t_capture=i / 30, wall_time=datetime.now(UTC), image=image)


@pytest.fixture(scope="module")
def analyzer():
    a = FaceAnalyzer(max_faces=2, crop_size=160, static_images=True)
    yield a
    a.close()


@pytest.fixture(scope="module")
def face_patch(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[10:270, 100:360])


def test_the_astronaut_gives_one_complete_face(analyzer, astronaut):
    # When the astronaut frame is processed
    faces = analyzer.process(_frame(7, astronaut))
    # Then one usable face comes back with all its parts
    assert len(faces) == 1
    face = faces[0]
    assert isinstance(face, Face) and face.frame_id == 7 and face.track_id >= 1
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    assert face.aligned.shape == (160, 160, 3) and face.aligned.dtype == np.uint8
    assert face.quality.ok, f"the astronaut should be a good face, got {face.quality}"
    x, y, w, h = face.box
    assert 60 < w < 200 and 60 < h < 200, f"implausible box {face.box}"
    assert x <= face.landmarks[1, 0] <= x + w and y <= face.landmarks[1, 1] <= y + h
    # And the values are frozen: nothing downstream can change them
    assert not face.landmarks.flags.writeable and not face.aligned.flags.writeable
    # And the timing of the stages is reported
    assert set(analyzer.last_timing) >= {"landmarks", "align", "track"}
    assert analyzer.last_timing["landmarks"] > 0


def test_aligned_crop_puts_the_eyes_where_the_template_says(analyzer, astronaut):
    # Given the face found by the analyzer (the re-detection check is in test_alignment.py)
    face = analyzer.process(_frame(8, astronaut))[0]
    # Then its eye centres, moved by the crop's similarity, land on the template's eyes
    m = similarity_matrix(face.landmarks, 160)
    eyes = five_points(face.landmarks)[:2] @ m[:, :2].T + m[:, 2]
    assert np.abs(eyes - TEMPLATE[:2] * 160).max() < 3


def test_an_empty_frame_yields_no_faces(analyzer):
    assert analyzer.process(_frame(1, np.full((480, 640, 3), 30, np.uint8))) == []
    assert analyzer.last_dropped_faces == 0


@pytest.mark.parametrize(
    "shape",
    [(0, 0, 3), (1, 1, 3), (7, 3, 3), (479, 641, 3), (480, 640), (480, 640, 4), (480, 640, 1)],
)
def test_odd_sizes_grey_and_bgra_frames_do_not_crash(analyzer, shape):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert analyzer.process(_frame(2, image)) == []


def test_grey_and_four_channel_frames_still_find_the_face(analyzer, astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGRA)
    for image in (grey, bgra):
        faces = analyzer.process(_frame(3, image))
        assert len(faces) == 1, f"no face in a {image.shape} frame"
        assert faces[0].aligned.shape == (160, 160, 3)


def test_more_faces_than_max_keeps_the_largest(analyzer, face_patch):
    # Given three faces, one clearly smaller, and max_faces = 2
    small = cv2.resize(face_patch, (180, 180), interpolation=cv2.INTER_AREA)
    canvas = np.full((560, 560, 3), 120, np.uint8)
    canvas[10:270, 10:270] = face_patch
    canvas[10:270, 290:550] = face_patch
    canvas[290:470, 190:370] = small
    # When it is processed
    faces = analyzer.process(_frame(4, canvas))
    # Then the two big faces are kept and one face is reported dropped
    assert len(faces) == 2
    assert analyzer.last_dropped_faces == 1
    assert all(f.box[1] < 280 for f in faces), f"the small face was kept: {[f.box for f in faces]}"
    assert len({f.track_id for f in faces}) == 2


def test_a_tiny_real_face_is_flagged_too_small(analyzer, astronaut):
    # Given the whole photo shrunk to 160 px: the face is about 30 px tall
    tiny = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    faces = analyzer.process(_frame(9, tiny))
    # Then MediaPipe still finds it, and it is flagged too small (default minimum 60 px)
    assert len(faces) == 1, "MediaPipe should find the face in the small photo"
    assert faces[0].quality.too_small and max(faces[0].box[2:]) < 60


def test_min_face_px_marks_small_faces(astronaut):
    with FaceAnalyzer(max_faces=1, min_face_px=150, static_images=True) as strict:
        faces = strict.process(_frame(5, astronaut))
    assert len(faces) == 1 and faces[0].quality.too_small


def test_a_blurred_frame_is_flagged(analyzer, astronaut):
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 4)
    faces = analyzer.process(_frame(6, blurred))
    assert len(faces) == 1, "MediaPipe should still find the blurred face"
    assert faces[0].quality.blurred


def test_reset_and_close_are_safe_and_the_analyzer_restarts(astronaut):
    a = FaceAnalyzer(max_faces=1, static_images=False)
    first = a.process(_frame(1, astronaut))[0].track_id
    a.reset()
    again = a.process(_frame(2, astronaut))[0].track_id
    assert again > first, "after reset a face gets a new id"
    a.close()
    a.close()
    assert len(a.process(_frame(3, astronaut))) == 1, "process after close starts MediaPipe again"
    a.close()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="max_faces"):
        FaceAnalyzer(max_faces=0)
    with pytest.raises(ValueError, match="crop_size"):
        FaceAnalyzer(crop_size=2)


def test_read_only_and_non_contiguous_frames_are_accepted(analyzer, astronaut):
    # Frames cross threads read-only; a mirrored view is not contiguous
    from cer_desktop.contracts import frozen_array

    mirrored = frozen_array(np.array(astronaut)[:, ::-1])
    assert not mirrored.flags.c_contiguous
    faces = analyzer.process(_frame(10, mirrored))
    assert len(faces) == 1, "a mirrored, read-only frame should still show the face"
