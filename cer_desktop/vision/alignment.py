"""Similarity alignment of a face to a canonical 5-point template: the crop the models see.

Training and the app both call `align_face`/`align_image`, and adapters record
`TEMPLATE_NAME` and the crop size, so a model sees at run time what it saw in training.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import cv2
import numpy as np

from cer_desktop.vision.landmarks import eye_centers
from cer_desktop.vision.mesh import MOUTH_LEFT, MOUTH_RIGHT, NOSE_TIP

if TYPE_CHECKING:
    from cer_desktop.vision.landmarks import FaceMeshDetector

#: Bump the name whenever TEMPLATE, TEMPLATE_WEIGHTS or the point definitions change:
#: adapters trained on one template must not silently run on another.
TEMPLATE_NAME = "cer-mp5-arcface80-v1"

#: Canonical points in unit coordinates of the square crop, in *image* order:
#: image-left eye centre, image-right eye centre, nose tip, image-left mouth corner,
#: image-right mouth corner. It is the ArcFace 112x112 template, made left/right symmetric
#: and shrunk by 0.8 about (0.5, 0.58) so brows, forehead and chin stay in the crop (a
#: framing like RAF-DB's aligned images).
TEMPLATE = np.array(
    [
        [0.374, 0.485],
        [0.626, 0.485],
        [0.500, 0.628],
        [0.396, 0.775],
        [0.604, 0.775],
    ],
    dtype=np.float64,
)
TEMPLATE.flags.writeable = False

#: Least-squares weights of the five points. Eyes dominate and the mouth corners count
#: little, so a smile or an open mouth barely moves the crop: the expression stays in the
#: image instead of being aligned away.
TEMPLATE_WEIGHTS = np.array([1.0, 1.0, 0.5, 0.25, 0.25])
TEMPLATE_WEIGHTS.flags.writeable = False


class AlignmentError(ValueError):
    """Landmarks or an image that cannot be aligned (wrong shape, degenerate points)."""


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The 5 template points (5, 2) of a face, in TEMPLATE's order, from 478/468 landmarks.

    A (5, 2) array is returned as is (already five points).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] < 2:
        raise AlignmentError(f"landmarks must be (N, 2|3), got shape {lm.shape}")
    if lm.shape[0] == 5:
        return lm[:, :2].copy()
    if lm.shape[0] < 468:
        raise AlignmentError(f"need 5 points or MediaPipe's 468/478 landmarks, got {lm.shape[0]}")
    right_eye, left_eye = eye_centers(lm)
    # The subject's right eye/mouth corner is on the image's left in an unmirrored frame.
    return np.array(
        [right_eye, left_eye, lm[NOSE_TIP, :2], lm[MOUTH_RIGHT, :2], lm[MOUTH_LEFT, :2]]
    )


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, translation) src -> dst.

    Umeyama (1991) without reflection. Returns the 2x3 matrix for `cv2.warpAffine`.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean_s = w @ src
    mean_d = w @ dst
    s0 = src - mean_s
    d0 = dst - mean_d
    var_s = float(w @ (s0**2).sum(axis=1))
    if not np.isfinite(var_s) or var_s < 1e-9:
        raise AlignmentError("degenerate landmarks: the face points coincide")
    cov = (d0 * w[:, None]).T @ s0
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((sv * d).sum() / var_s)
    t = mean_d - scale * rot @ mean_s
    return np.hstack([scale * rot, t[:, None]])


def similarity_matrix(landmarks: np.ndarray, size: int = 224) -> np.ndarray:
    """The 2x3 similarity taking a face's landmarks onto TEMPLATE in a `size` px square."""
    if size < 8:
        raise AlignmentError(f"crop size must be at least 8 px, got {size}")
    return umeyama(five_points(landmarks), TEMPLATE * size, TEMPLATE_WEIGHTS)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 224) -> np.ndarray:
    """The aligned square crop (size, size, C) of the face with these landmarks.

    Pixels outside the image are black. Works for any channel count and dtype OpenCV warps.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise AlignmentError(f"expected an image (H, W[, C]), got shape {image.shape}")
    matrix = similarity_matrix(landmarks, size)
    image = np.ascontiguousarray(image)
    shrink = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    # Bilinear warping aliases when it shrinks a big face a lot (warpAffine has no area
    # filter): warp at k times the size, then area-resize the small crop down.
    k = int(min(4, np.ceil(0.75 / shrink))) if shrink < 0.75 else 1
    # (borderValue=0: OpenCV takes a number, its stubs only a sequence)
    out = cv2.warpAffine(  # type: ignore[call-overload]
        image,
        matrix * k,
        (size * k, size * k),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if k > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out


_local = threading.local()


def _static_detector() -> FaceMeshDetector:
    # One static-image detector per thread (FaceMesh is not thread-safe and costly to build)
    # and per process: a detector inherited through fork (DataLoader workers) has lost its
    # graph threads and would hang.
    det = getattr(_local, "detector", None)
    if det is None or getattr(_local, "pid", None) != os.getpid():
        from cer_desktop.vision.landmarks import FaceMeshDetector

        det = FaceMeshDetector(max_faces=4, static_images=True)
        _local.detector = det
        _local.pid = os.getpid()
    return det


def ensure_rgb(image: np.ndarray) -> np.ndarray:
    """Grey, grey+alpha, RGBA, 16-bit or float [0, 1] images -> RGB uint8 (best effort).

    Raises AlignmentError for arrays that are not images.
    """
    a = np.asarray(image)
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(a * 255.0 if a.size and float(np.nanmax(a)) <= 1.0 else a, 0, 255)
            a = np.nan_to_num(a).astype(np.uint8)
        elif a.dtype == np.uint16:
            a = (a >> 8).astype(np.uint8)  # 16-bit camera/PNG frames: keep the top byte
        else:
            a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if a.ndim == 3 and a.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(a, 3, axis=2))
    if a.ndim == 3 and a.shape[2] == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, :1], 3, axis=2))
    if a.ndim == 3 and a.shape[2] >= 3:
        return np.ascontiguousarray(a[:, :, :3])
    raise AlignmentError(f"not an image: shape {a.shape}")


def align_image(
    image: np.ndarray, size: int = 224, *, retry_padded: bool = True
) -> np.ndarray | None:
    """Detect the largest face in one still image and return its aligned RGB crop.

    None when no face is found. Grey and RGBA images are converted first. Uses a cached
    static-image MediaPipe detector per thread, so calling it over a data set is cheap.
    With `retry_padded`, an image in which no face is found is searched once more with a
    black border around it: MediaPipe's detector misses faces cropped so tightly that the
    face outline touches the image edge (as in some data sets' own "aligned" images).
    """
    rgb = ensure_rgb(image)
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        return None
    detector = _static_detector()
    faces = detector.detect(rgb)
    if not faces and retry_padded:
        pad = max(4, int(0.3 * max(rgb.shape[:2])))
        # a number as the border value: OpenCV takes it, its stubs only take a sequence
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)  # type: ignore[call-overload]
        faces = [lm - np.array([pad, pad, 0], dtype=lm.dtype) for lm in detector.detect(padded)]
    if not faces:
        return None
    largest = max(faces, key=lambda lm: float(np.ptp(lm[:, 0]) * np.ptp(lm[:, 1])))
    return align_face(rgb, largest, size)
