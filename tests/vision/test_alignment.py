"""Alignment checked by detecting the landmarks again on the aligned crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cer_desktop.vision import alignment as A
from cer_desktop.vision.landmarks import FaceMeshDetector

SIZE = 224


@pytest.fixture(scope="module")
def detector():
    det = FaceMeshDetector(max_faces=1, static_images=True)
    yield det
    det.close()


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)


VARIANTS = {
    "as_is": lambda im: im,
    "rotated_+20": lambda im: _rotated(im, 20),
    "rotated_-20": lambda im: _rotated(im, -20),
    "scaled_0.6": lambda im: _scaled(im, 0.6),
    "scaled_1.5": lambda im: _scaled(im, 1.5),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_eyes_of_the_aligned_face_land_on_the_template(detector, astronaut, variant):
    # Given the astronaut, possibly rotated or scaled, and its landmarks
    image = VARIANTS[variant](astronaut)
    faces = detector.detect(image)
    assert len(faces) == 1, f"MediaPipe should find the face in the {variant} image"
    # When the face is aligned to a 224 px crop and searched again there
    crop = A.align_face(image, faces[0], SIZE)
    assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.uint8
    again = detector.detect(crop)
    assert len(again) == 1, "the aligned crop must still show a detectable face"
    points = A.five_points(again[0])
    # Then both eye centres are within a few pixels of the template's eye points
    eye_error = np.linalg.norm(points[:2] - A.TEMPLATE[:2] * SIZE, axis=1)
    assert eye_error.max() < 4.0, f"eyes off the template by {eye_error} px ({variant})"
    # And the eyes are level: the rotation has been undone
    roll = np.degrees(np.arctan2(*(points[1] - points[0])[::-1]))
    assert abs(roll) < 2.0, f"aligned face still rolled by {roll:.1f} degrees ({variant})"


def test_similarity_matrix_maps_template_points_onto_themselves():
    # Given five points that are a rotated, scaled, shifted copy of the template
    theta = np.radians(25)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    src = (A.TEMPLATE * 100) @ rot.T * 1.7 + [40, 13]
    # When the alignment matrix is estimated
    m = A.similarity_matrix(src, 224)
    # Then it maps them exactly onto the template
    mapped = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, A.TEMPLATE * 224, atol=1e-6)
    # And it is a similarity (no shear, no reflection)
    a = m[:, :2]
    assert np.isclose(a[0, 0], a[1, 1]) and np.isclose(a[0, 1], -a[1, 0])


def test_template_is_symmetric_and_named():
    assert A.TEMPLATE.shape == (5, 2)
    np.testing.assert_allclose(A.TEMPLATE[0, 0] + A.TEMPLATE[1, 0], 1.0)
    np.testing.assert_allclose(A.TEMPLATE[3, 0] + A.TEMPLATE[4, 0], 1.0)
    assert isinstance(A.TEMPLATE_NAME, str) and A.TEMPLATE_NAME
    assert not A.TEMPLATE.flags.writeable, "the template must not be changed by accident"


def test_degenerate_or_wrong_landmarks_raise_a_named_error():
    with pytest.raises(A.AlignmentError, match="degenerate"):
        A.similarity_matrix(np.zeros((478, 3)), 224)
    with pytest.raises(A.AlignmentError, match="468/478"):
        A.five_points(np.zeros((68, 2)))
    with pytest.raises(A.AlignmentError):
        A.align_face(np.zeros((10,), np.uint8), np.zeros((5, 2)), 224)


def test_align_image_returns_a_crop_for_a_face_and_none_without(astronaut):
    crop = A.align_image(astronaut, size=112)
    assert crop is not None and crop.shape == (112, 112, 3)
    assert A.align_image(np.zeros((200, 200, 3), np.uint8)) is None
    assert A.align_image(np.zeros((1, 1, 3), np.uint8)) is None


def test_align_image_accepts_grey_and_rgba(astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    for image in (grey, rgba):
        crop = A.align_image(image, size=64)
        assert crop is not None and crop.shape == (64, 64, 3), f"no crop for shape {image.shape}"


def test_a_big_face_shrunk_into_the_crop_matches_the_crop_of_a_smaller_copy(detector, astronaut):
    # Given the astronaut at 4x size and its landmarks
    lm = detector.detect(astronaut)[0]
    big = cv2.resize(astronaut, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    # When both are aligned into a small crop
    small_crop = A.align_face(astronaut, lm, 96).astype(np.float32)
    big_crop = A.align_face(big, lm * 4, 96).astype(np.float32)
    # Then the crops agree (the 4x shrink is filtered, not aliased)
    diff = float(np.abs(small_crop - big_crop).mean())
    assert diff < 4.0, f"mean difference {diff:.1f} grey levels between the two crops"


def test_ensure_rgb_converts_common_image_kinds():
    grey = np.full((4, 5), 200, np.uint8)
    assert A.ensure_rgb(grey).shape == (4, 5, 3)
    assert A.ensure_rgb(np.full((4, 5, 3), 1.0)).max() == 255, "float images in [0, 1] scale up"
    assert A.ensure_rgb(np.full((4, 5, 3), 65535, np.uint16)).max() == 255
    assert A.ensure_rgb(np.zeros((4, 5, 2), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(A.AlignmentError, match="not an image"):
        A.ensure_rgb(np.zeros(7, np.uint8))


def test_align_image_finds_a_face_cropped_into_its_outline(detector, astronaut):
    # Given a 48 px image cut inside the face outline (tighter than the face itself)
    lm = detector.detect(astronaut)[0]
    (x0, y0), (x1, y1) = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
    dx, dy = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    tight = astronaut[int(y0 + dy) : int(y1 - dy), int(x0 + dx) : int(x1 - dx)]
    tight = cv2.resize(tight, (48, 48), interpolation=cv2.INTER_AREA)
    # Then MediaPipe alone misses it, and the padded retry finds it
    assert A.align_image(tight, 64, retry_padded=False) is None, "the case this retry is for"
    crop = A.align_image(tight, 64)
    assert crop is not None and crop.shape == (64, 64, 3)


@pytest.fixture(scope="module")
def expression_landmarks(detector, astronaut) -> dict[str, np.ndarray]:
    """Landmarks MediaPipe finds on the astronaut warped into a few expressions."""
    from cer_desktop.vision.expression_warp import ExpressionWarper, astronaut_landmarks

    warper = ExpressionWarper(astronaut, astronaut_landmarks())
    out = {}
    for name in ("neutral", "happy", "anger", "sad"):
        found = detector.detect(warper.warp(name, 1.0))
        assert len(found) == 1, f"MediaPipe should find the {name} face"
        out[name] = found[0]
    return out


@pytest.mark.parametrize("expression", ["happy", "anger", "sad"])
def test_an_expression_barely_moves_the_crop(expression_landmarks, expression):
    # Given the neutral face's stable points (eyes, nose tip)
    neutral = A.five_points(expression_landmarks["neutral"])
    moved = A.five_points(expression_landmarks[expression])

    def shift(weights: np.ndarray) -> float:
        # How far the neutral face's eyes and nose move in the crop when the crop is fitted
        # on the expressive face instead of the neutral one
        m0 = A.umeyama(neutral, A.TEMPLATE * SIZE, weights)
        m1 = A.umeyama(moved, A.TEMPLATE * SIZE, weights)
        p = neutral[:3]
        return float(np.abs((p @ m0[:, :2].T + m0[:, 2]) - (p @ m1[:, :2].T + m1[:, 2])).max())

    # Then with the template's weights the crop moves under 2 px at 224 px, and less than
    # an unweighted fit would move it (the mouth corners count little)
    weighted, uniform = shift(A.TEMPLATE_WEIGHTS), shift(np.ones(5))
    assert weighted < 2.0, f"{expression} moved the crop by {weighted:.2f} px"
    assert weighted < uniform, f"weighted {weighted:.2f} px vs unweighted {uniform:.2f} px"
