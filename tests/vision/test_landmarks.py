"""Tests of the MediaPipe face-mesh wrapper and its landmark index constants."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.vision import landmarks as L
from cer_desktop.vision import mesh as M


@pytest.fixture(scope="module")
def detector():
    det = L.FaceMeshDetector(max_faces=2, static_images=True)
    yield det
    det.close()


def _points(connections) -> set[int]:
    return {i for edge in connections for i in edge}


def test_index_constants_match_mediapipes_own_connection_sets():
    # Given MediaPipe's published contours
    import mediapipe as mp

    c = mp.solutions.face_mesh_connections
    # Then our constants name exactly the same points
    assert set(M.LEFT_EYE) == _points(c.FACEMESH_LEFT_EYE)
    assert set(M.RIGHT_EYE) == _points(c.FACEMESH_RIGHT_EYE)
    assert set(M.LEFT_EYEBROW) == _points(c.FACEMESH_LEFT_EYEBROW)
    assert set(M.RIGHT_EYEBROW) == _points(c.FACEMESH_RIGHT_EYEBROW)
    assert set(M.FACE_OVAL) == _points(c.FACEMESH_FACE_OVAL)
    assert set(M.LIPS_OUTER) | set(M.LIPS_INNER) == _points(c.FACEMESH_LIPS)
    assert set(M.LEFT_IRIS) == _points(c.FACEMESH_LEFT_IRIS)
    assert set(M.RIGHT_IRIS) == _points(c.FACEMESH_RIGHT_IRIS)
    assert {M.MOUTH_RIGHT, M.MOUTH_LEFT} <= set(M.LIPS_OUTER)


def test_detect_returns_478_pixel_landmarks_on_the_astronaut(detector, astronaut):
    # When the astronaut photo is searched
    faces = detector.detect(astronaut)
    # Then one face comes back as (478, 3) float32 pixel coordinates inside the image
    assert len(faces) == 1
    lm = faces[0]
    assert lm.shape == (478, 3) and lm.dtype == np.float32
    h, w = astronaut.shape[:2]
    assert 0 <= lm[:, 0].min() and lm[:, 0].max() < w
    assert 0 <= lm[:, 1].min() and lm[:, 1].max() < h
    # And the subject's right eye is on the image's left, above the nose tip and the mouth
    right_eye, left_eye = L.eye_centers(lm)
    assert right_eye[0] < left_eye[0], "RIGHT_EYE must be the image-left eye of an unmirrored face"
    assert (
        max(right_eye[1], left_eye[1]) < lm[M.NOSE_TIP, 1] < lm[M.UPPER_LIP_TOP, 1] < lm[M.CHIN, 1]
    )
    assert lm[M.MOUTH_RIGHT, 0] < lm[M.MOUTH_LEFT, 0]
    # And the iris centres lie inside their eye contours' extent
    for iris, eye in ((M.RIGHT_IRIS_CENTER, M.RIGHT_EYE), (M.LEFT_IRIS_CENTER, M.LEFT_EYE)):
        xs = lm[list(eye), 0]
        assert xs.min() < lm[iris, 0] < xs.max()


def test_detect_finds_nothing_in_a_blank_image(detector):
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_detect_rejects_a_non_rgb_array_with_a_clear_error(detector):
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_missing_task_file_is_a_named_error(tmp_path):
    with pytest.raises(L.LandmarkError, match="not found"):
        L.FaceMeshDetector(task_file=tmp_path / "face_landmarker.task")


def test_unreadable_task_file_is_a_named_error(tmp_path):
    # Given a file that is not a MediaPipe task bundle (the real one cannot ship with tests)
    bogus = tmp_path / "face_landmarker.task"
    bogus.write_bytes(b"not a zip archive" * 10)
    # Then loading it fails with a message naming the file, not a crash
    with pytest.raises(L.LandmarkError, match="cannot load"):
        L.FaceMeshDetector(task_file=bogus)


def test_closed_detector_says_so_and_close_is_idempotent():
    det = L.FaceMeshDetector(max_faces=1, static_images=True)
    det.close()
    det.close()
    with pytest.raises(L.LandmarkError, match="closed"):
        det.detect(np.zeros((32, 32, 3), np.uint8))
