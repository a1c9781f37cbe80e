"""Quality flags: too small, profile (yaw), blurred."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cer_desktop.vision.alignment import align_face
from cer_desktop.vision.landmarks import FaceMeshDetector
from cer_desktop.vision.quality import assess, estimate_yaw, sharpness


@pytest.fixture(scope="module")
def astro_landmarks(astronaut) -> np.ndarray:
    with FaceMeshDetector(max_faces=1, static_images=True) as det:
        return det.detect(astronaut)[0].astype(np.float64)


def _turn(landmarks: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate 3D landmarks about the vertical axis through their centre (a head turn)."""
    t = np.radians(degrees)
    c = landmarks.mean(axis=0)
    d = landmarks - c
    x = d[:, 0] * np.cos(t) + d[:, 2] * np.sin(t)
    z = -d[:, 0] * np.sin(t) + d[:, 2] * np.cos(t)
    return np.stack([x, d[:, 1], z], axis=1) + c


def test_the_astronaut_is_frontal(astro_landmarks):
    assert abs(estimate_yaw(astro_landmarks)) < 10


@pytest.mark.parametrize("degrees", [-60, -30, -10, 10, 30, 60])
def test_yaw_estimate_follows_a_head_turn(astro_landmarks, degrees):
    # Given the astronaut's mesh turned about the vertical axis
    turned = _turn(astro_landmarks, degrees)
    # Then the 3D estimate recovers the angle (the sign convention: this turn is negative)
    assert estimate_yaw(turned) == pytest.approx(-degrees, abs=3)
    # And the 2D fallback (no depth) gets the same sign and roughly the size
    flat = turned.copy()
    flat[:, 2] = 0
    assert estimate_yaw(flat) == pytest.approx(-degrees, abs=8)


def test_profile_flag_needs_a_strong_turn(astro_landmarks, astronaut):
    crop = align_face(astronaut, astro_landmarks, 112)
    assert not assess(_turn(astro_landmarks, 20), crop).profile
    assert assess(_turn(astro_landmarks, 55), crop).profile
    assert assess(_turn(astro_landmarks, -55), crop).profile


def test_too_small_follows_the_face_size(astro_landmarks, astronaut):
    crop = align_face(astronaut, astro_landmarks, 112)
    # The astronaut's face is about 100 px: fine at the default minimum of 60 px
    assert not assess(astro_landmarks, crop, min_face_px=60).too_small
    # The same face shrunk 4x (about 25 px) is too small
    assert assess(astro_landmarks / 4, crop, min_face_px=60).too_small


def test_blurred_crop_is_flagged_and_a_sharp_one_is_not(astro_landmarks, astronaut):
    # Given the sharp aligned crop and blurred copies of it
    crop = align_face(astronaut, astro_landmarks, 224)
    assert not assess(astro_landmarks, crop).blurred
    assert assess(astro_landmarks, cv2.GaussianBlur(crop, (0, 0), 4)).blurred
    # And sharpness falls as the blur grows, whatever the crop size
    values = [sharpness(cv2.GaussianBlur(crop, (0, 0), s)) for s in (0.5, 1.5, 3, 5)]
    assert values == sorted(values, reverse=True), f"not monotonic: {values}"
    small = align_face(astronaut, astro_landmarks, 112)
    assert sharpness(small) == pytest.approx(sharpness(crop), rel=0.15)


def test_dimming_does_not_make_a_face_blurred(astro_landmarks, astronaut):
    dim = (astronaut * 0.3).astype(np.uint8)
    assert not assess(astro_landmarks, align_face(dim, astro_landmarks, 224)).blurred


def test_flat_crop_has_no_sharpness():
    assert sharpness(np.full((224, 224, 3), 90, np.uint8)) == 0.0


def test_yaw_rejects_too_few_landmarks():
    with pytest.raises(ValueError, match="landmarks"):
        estimate_yaw(np.zeros((68, 3)))
