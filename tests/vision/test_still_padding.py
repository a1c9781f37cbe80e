"""Stills are padded before detection: tight crops are found, landmarks stay in image pixels.

The padding is checked on the legacy face mesh (`task_file=None`), the model that misses
tight crops unpadded; the face landmarker (which finds this crop either way) is checked to
find it padded too."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.contracts import Frame
from cer_desktop.vision.analyzer import FaceAnalyzer, pad_for_detection
from cer_desktop.vision.landmarks import FaceMeshDetector


def frame(image: np.ndarray) -> Frame:
    return Frame(0, 0.0, datetime.now(UTC), np.ascontiguousarray(image))


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's landmarks on the whole photo (unpadded) and a crop of the photo cut
    15% inside the landmarks' box, so brows and chin touch the border."""
    with FaceAnalyzer(max_faces=1, static_images=True, still_padding=0.0, task_file=None) as a:
        faces = a.process(frame(astronaut))
    assert len(faces) == 1, "MediaPipe finds the astronaut in the whole photo"
    lm = np.asarray(faces[0].landmarks)
    (x0, y0), (x1, y1) = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
    dx, dy = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
    crop = astronaut[int(y0 + dy) : int(y1 - dy), int(x0 + dx) : int(x1 - dx)]
    return lm, crop


def test_a_face_cropped_to_the_border_is_found_only_with_padding(astronaut_face) -> None:
    _, crop = astronaut_face
    # Given a still cropped so tightly that brows and chin touch the border,
    with FaceAnalyzer(max_faces=1, static_images=True, still_padding=0.0, task_file=None) as bare:
        missed = bare.process(frame(crop))
    with FaceAnalyzer(max_faces=1, static_images=True, task_file=None) as padded:
        found = padded.process(frame(crop))
    # then MediaPipe alone misses it and the padded still finds it,
    assert missed == [], "this crop is one MediaPipe misses unpadded (else the test proves nothing)"
    assert len(found) == 1
    # with landmarks in the crop's own pixels (some fall outside it: the face is cut off).
    lm = np.asarray(found[0].landmarks)
    h, w = crop.shape[:2]
    centre = lm[:, :2].mean(axis=0)
    assert 0.25 * w < centre[0] < 0.75 * w and 0.25 * h < centre[1] < 0.75 * h, centre
    x, y, bw, bh = found[0].box
    assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h, found[0].box


def test_padding_moves_no_landmark(astronaut: np.ndarray, astronaut_face) -> None:
    # Given the whole photo, found with and without padding,
    bare, _ = astronaut_face
    with FaceAnalyzer(max_faces=1, static_images=True, task_file=None) as padded:
        lm = np.asarray(padded.process(frame(astronaut))[0].landmarks)
    # then the landmarks agree within a few pixels (MediaPipe's own variation with context).
    iod = np.hypot(*(bare[263, :2] - bare[33, :2]))
    assert np.median(np.linalg.norm(lm[:, :2] - bare[:, :2], axis=1)) < 0.05 * iod


def test_the_face_landmarker_finds_the_tight_crop_padded_in_the_crop_pixels(
    astronaut_face, face_landmarker_task
) -> None:
    bare, crop = astronaut_face
    with FaceAnalyzer(max_faces=1, static_images=True, task_file=face_landmarker_task) as a:
        found = a.process(frame(crop))
    assert len(found) == 1 and found[0].blendshapes
    centre = np.asarray(found[0].landmarks)[:, :2].mean(axis=0)
    h, w = crop.shape[:2]
    assert 0.25 * w < centre[0] < 0.75 * w and 0.25 * h < centre[1] < 0.75 * h, centre


def test_pad_for_detection_adds_a_grey_border_of_the_asked_share() -> None:
    image = np.zeros((40, 100, 3), np.uint8)
    padded, pad = pad_for_detection(image, 0.25)
    assert pad == 25 and padded.shape == (90, 150, 3)
    assert (padded[:pad] == 128).all() and (padded[pad : pad + 40, pad : pad + 100] == 0).all()
    same, none = pad_for_detection(image, 0.0)
    assert none == 0 and same is image


def test_a_bad_padding_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="still_padding"):
        FaceAnalyzer(still_padding=-0.1)


def test_a_small_face_in_a_large_still_is_found_as_well(astronaut: np.ndarray) -> None:
    # Given the photo on a wider canvas: its face is small enough that padding the still
    # shrinks it out of MediaPipe's reach,
    canvas = np.pad(astronaut, ((128, 128), (128, 128), (0, 0)), constant_values=200)
    with FaceMeshDetector(max_faces=1, static_images=True) as detector:
        assert detector.detect(pad_for_detection(canvas, 0.25)[0]) == [], "padding alone misses it"
    # then the analyzer still finds it (the still is searched unpadded as well), once.
    with FaceAnalyzer(max_faces=2, static_images=True) as analyzer:
        faces = analyzer.process(frame(canvas))
    assert len(faces) == 1, "one face, found once (not once per search)"
    x, y, w, h = faces[0].box
    assert 128 + 150 <= x + w / 2 <= 128 + 300 and 128 + 50 <= y + h / 2 <= 128 + 200, faces[0].box
