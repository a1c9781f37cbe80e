"""Quality flags of a face: too small, strong profile (yaw), blurred."""

from __future__ import annotations

import cv2
import numpy as np

from cer_desktop.contracts import QualityFlags
from cer_desktop.vision.landmarks import eye_centers
from cer_desktop.vision.mesh import (
    LEFT_CHEEK,
    LEFT_EYE_INNER,
    LEFT_EYE_OUTER,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_TIP,
    RIGHT_CHEEK,
    RIGHT_EYE_INNER,
    RIGHT_EYE_OUTER,
)

#: Symmetric landmark pairs (subject's right, subject's left) whose 3D direction gives yaw.
_YAW_PAIRS = (
    (RIGHT_CHEEK, LEFT_CHEEK),
    (RIGHT_EYE_OUTER, LEFT_EYE_OUTER),
    (RIGHT_EYE_INNER, LEFT_EYE_INNER),
    (MOUTH_RIGHT, MOUTH_LEFT),
)
#: Nose-tip depth over half the cheek-to-cheek width, measured on MediaPipe's mesh of a
#: frontal face; used by the 2D fallback when landmarks carry no depth.
_NOSE_DEPTH_RATIO = 1.4

#: Sharpness is measured on this size so the threshold does not depend on the crop size.
SHARPNESS_SIZE = 112


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Head yaw in degrees (0 = frontal, ±90 = full profile) from face-mesh landmarks.

    Uses the depth MediaPipe gives every landmark: the angle out of the image plane of the
    lines joining symmetric points (cheeks, eye corners, mouth corners). Positive when the
    subject's left side is farther from the camera (the face turned toward the subject's
    right). Landmarks without depth (z all zero) fall back to the nose tip's offset from
    the cheeks' midpoint, a coarser estimate.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] < 2:
        raise ValueError(f"expected (478|468, 3) landmarks, got shape {lm.shape}")
    if lm.shape[1] >= 3 and float(np.ptp(lm[:, 2])) > 1e-6:
        v = np.array([lm[b, :3] - lm[a, :3] for a, b in _YAW_PAIRS])
        v = v.sum(axis=0)  # longer (steadier) pairs weigh more
        return float(np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1]))))
    right, left = lm[RIGHT_CHEEK, :2], lm[LEFT_CHEEK, :2]
    axis = left - right
    half = float(np.linalg.norm(axis)) / 2
    if half < 1e-6:
        return 0.0
    # The nose tip's offset along the cheek line, relative to half the face width.
    r = float((lm[NOSE_TIP, :2] - (left + right) / 2) @ axis) / (2 * half * half)
    # The nose moves toward the side the face turns to, the side that comes closer.
    return float(np.degrees(np.arctan(r / _NOSE_DEPTH_RATIO)))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian over the face centre, relative to its contrast.

    The crop is resized to SHARPNESS_SIZE so the value does not depend on the crop size,
    and only the centre (eyes, nose, mouth) is used so black borders and background do not
    count. Dividing by the intensity variance makes a dim or low-contrast face not look
    blurred merely for being dim.
    """
    img = np.asarray(crop)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if img.size == 0:
        return 0.0
    img = cv2.resize(img, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    s = SHARPNESS_SIZE
    centre = img[int(0.35 * s) : int(0.85 * s), int(0.25 * s) : int(0.75 * s)].astype(np.float32)
    lap = cv2.Laplacian(centre, cv2.CV_32F, ksize=3)
    contrast = float(centre.var())
    if contrast < 1.0:  # a flat patch has no detail at all
        return 0.0
    return float(lap.var()) / contrast


def face_size(landmarks: np.ndarray) -> float:
    """The larger side of the landmarks' bounding box, in pixels."""
    lm = np.asarray(landmarks)[:, :2]
    return float(max(np.ptp(lm[:, 0]), np.ptp(lm[:, 1])))


def interocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres, in pixels."""
    right, left = eye_centers(landmarks)
    return float(np.linalg.norm(left - right))


def assess(
    landmarks: np.ndarray,
    crop: np.ndarray | None,
    *,
    min_face_px: float = 60.0,
    max_yaw_deg: float = 40.0,
    min_sharpness: float = 1.0,
) -> QualityFlags:
    """Quality flags of one face.

    too_small: the face box is under `min_face_px` or the eyes are closer than a fifth of
    it; profile: |yaw| above `max_yaw_deg`; blurred: `sharpness(crop)` under `min_sharpness`.
    """
    too_small = face_size(landmarks) < min_face_px or interocular(landmarks) < 0.2 * min_face_px
    profile = abs(estimate_yaw(landmarks)) > max_yaw_deg
    blurred = crop is not None and sharpness(crop) < min_sharpness
    return QualityFlags(too_small=bool(too_small), profile=bool(profile), blurred=bool(blurred))
