"""Geometric facial-expression warps of a real face photo, for the demo source and tests
(the expressions themselves, as displacement fields, are in expression_actions.py).

A face image plus its 478 MediaPipe landmarks is warped so that whole regions move the way an
expression moves them (mouth corners up and out, brows up, jaw dropped ...). Moving a handful of
landmarks barely registers when MediaPipe looks again; moving whole regions over a sparse control
set (face oval, lips, brows, eyes, nose, cheeks, chin, plus fixed anchors around the face box)
with a piecewise-affine warp is measured back at most of the intended displacement.

Displacements are purely geometric, in units of the inter-ocular distance (IOD), expressed in
the face's own frame (x along the eyes towards the image right, y down the face). They are
defined here, apart from the AU measurement code, so that tests of the recognizer are not
circular.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import cv2
import numpy as np

from cer_desktop.vision.expression_actions import (
    ACTIONS,
    BASIC_EXPRESSIONS,
    COMPOUND_EXPRESSIONS,
    CONTROL,
    EXPRESSIONS,
    Expression,
    UnknownExpression,
    _FaceGeometry,
    expression_weights,
)
from cer_desktop.vision.mesh import LOWER_LIP_INNER_CONTOUR, UPPER_LIP_INNER_CONTOUR

__all__ = [
    "ACTIONS",
    "BASIC_EXPRESSIONS",
    "COMPOUND_EXPRESSIONS",
    "EXPRESSIONS",
    "Expression",
    "ExpressionWarper",
    "UnknownExpression",
    "astronaut_landmarks",
    "expression_weights",
]

# --- the warp -------------------------------------------------------------------------------


class ExpressionWarper:
    """Warps one face image into expressions by moving landmark regions.

    `image` is RGB uint8 (H, W, 3); `landmarks` are MediaPipe's 478 points in image pixels
    ((478, 2) or (478, 3); z is ignored). Only a box around the face is resampled, so a warp
    takes a few milliseconds; pixels outside that box are untouched.
    """

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, *, margin: float = 0.7) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.ndim != 2 or lm.shape[0] < 478 or lm.shape[1] < 2:
            raise ValueError(f"landmarks must be (478, 2|3) pixels, got {lm.shape}")
        self.image = np.ascontiguousarray(image)
        self.landmarks = lm[:478, :2].copy()
        self.geometry = _FaceGeometry(self.landmarks)
        h, w = image.shape[:2]
        iod = self.geometry.iod
        lo = self.landmarks.min(axis=0) - margin * iod
        hi = self.landmarks.max(axis=0) + margin * iod
        # The jaw drops: keep more room below the chin than above the forehead.
        hi[1] += 0.3 * iod
        x0, y0 = max(int(np.floor(lo[0])), 0), max(int(np.floor(lo[1])), 0)
        x1, y1 = min(int(np.ceil(hi[0])), w - 1), min(int(np.ceil(hi[1])), h - 1)
        self.box = (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
        anchors = _box_anchors(x0, y0, x1, y1, spacing=max(iod * 0.5, 8.0))
        self._control = np.asarray(CONTROL, dtype=np.intp)
        self._src = np.vstack([self.landmarks[self._control], anchors])
        self._n_anchor = len(anchors)
        from scipy.spatial import Delaunay

        self._triangles = Delaunay(self._src).simplices.astype(np.intp)
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        self._grid_x = xs.astype(np.float32)
        self._grid_y = ys.astype(np.float32)

    @property
    def iod(self) -> float:
        """Inter-ocular distance in pixels (the unit of every displacement)."""
        return self.geometry.iod

    def displacement(
        self, expression: Expression | Mapping[str, float], intensity: float = 1.0
    ) -> np.ndarray:
        """The intended (478, 2) image-pixel displacement of every landmark."""
        weights = expression_weights(expression)
        local = np.zeros_like(self.geometry.local)
        for action, w in weights.items():
            if w:
                local += w * ACTIONS[action](self.geometry)
        return self.geometry.to_image(local * float(intensity))

    def target_landmarks(
        self, expression: Expression | Mapping[str, float], intensity: float = 1.0
    ) -> np.ndarray:
        """Where the landmarks should be after `warp(expression, intensity)` ((478, 2))."""
        return self.landmarks + self.displacement(expression, intensity)

    def warp(
        self, expression: Expression | Mapping[str, float], intensity: float = 1.0
    ) -> np.ndarray:
        """A new RGB uint8 image showing the face with `expression` at `intensity` (0 = as is).

        `expression` is a name of `EXPRESSIONS` or a mix {name or action: weight}.
        """
        disp = self.displacement(expression, intensity)
        if not np.any(np.abs(disp) > 1e-6):
            return self.image.copy()
        dst = self._src.copy()
        dst[: len(self._control)] += disp[self._control]
        out = self._remap(dst)
        self._shade_mouth_opening(out, disp)
        return out

    def _shade_mouth_opening(self, out: np.ndarray, disp: np.ndarray) -> None:
        """Darken the gap a dropped jaw opens between the lips, in place.

        Stretching the closed (or teeth-showing) mouth would only give long teeth; an open
        mouth is dark inside, and that is what MediaPipe needs to see the jaw drop. The teeth
        stay with the upper lip; what opens below them is the mouth's dark interior.
        """
        ring = np.asarray(UPPER_LIP_INNER_CONTOUR + LOWER_LIP_INNER_CONTOUR[::-1], dtype=np.intp)
        upper = np.asarray(UPPER_LIP_INNER_CONTOUR, dtype=np.intp)
        opening = float(
            np.mean(disp[np.asarray(LOWER_LIP_INNER_CONTOUR), :] @ self.geometry.v)
        ) - float(np.mean(disp[upper] @ self.geometry.v))
        if opening < 1.0:
            return
        x0, y0, bw, bh = self.box
        shift = 4
        scale = 1 << shift

        def poly(points: np.ndarray) -> np.ndarray:
            return np.round((points - (x0, y0)) * scale).astype(np.int32)

        target = self.landmarks + disp
        gap = np.zeros((bh, bw), dtype=np.uint8)
        # OpenCV takes a number as the colour; its stubs only a sequence (hence the ignores).
        cv2.fillPoly(gap, [poly(target[ring])], 255, lineType=cv2.LINE_AA, shift=shift)  # type: ignore[call-overload]
        teeth = self.landmarks[ring] + disp[upper].mean(axis=0)
        cv2.fillPoly(gap, [poly(teeth)], 0, lineType=cv2.LINE_AA, shift=shift)  # type: ignore[call-overload]
        sigma = max(self.geometry.iod * 0.02, 0.8)
        alpha = cv2.GaussianBlur(gap, (0, 0), sigma).astype(np.float32)[..., None] / 255.0
        # Fade in over the first pixels of opening, so intensity ramps stay smooth.
        alpha *= min(opening / (0.08 * self.geometry.iod), 1.0) * 0.9
        region = out[y0 : y0 + bh, x0 : x0 + bw].astype(np.float32)
        interior = np.array(_MOUTH_INTERIOR, dtype=np.float32)
        out[y0 : y0 + bh, x0 : x0 + bw] = np.round(
            region * (1.0 - alpha) + interior * alpha
        ).astype(np.uint8)

    def _remap(self, dst: np.ndarray) -> np.ndarray:
        x0, y0, bw, bh = self.box
        tris = self._triangles
        # Inverse (destination -> source) affine per triangle: M @ [x, y, 1] = source point.
        d = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # (T, 3, 3)
        s = self._src[tris]  # (T, 3, 2)
        det = np.linalg.det(d)
        ok = np.abs(det) > 1e-6
        m = np.zeros((len(tris), 2, 3))
        m[:, 0, 0] = m[:, 1, 1] = 1.0  # identity for degenerate (zero-area) triangles
        if ok.any():
            m[ok] = np.swapaxes(np.linalg.solve(d[ok], s[ok]), 1, 2)
        # Rasterise triangle ids in the destination; edge pixels are drawn by both neighbours,
        # so there are no gaps (their affines agree on the shared edge).
        labels = np.zeros((bh, bw), dtype=np.int32)
        shift = 4
        pts = np.round((dst[tris] - (x0, y0)) * (1 << shift)).astype(np.int32)
        for i in range(len(tris)):
            if ok[i]:
                # a number as the colour (the id): the stubs only take a sequence
                cv2.fillConvexPoly(labels, pts[i], i + 1, lineType=cv2.LINE_8, shift=shift)  # type: ignore[call-overload]
        mm = np.concatenate([np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), m]).astype(np.float32)
        a = mm[labels]  # (bh, bw, 2, 3)
        gx, gy = self._grid_x, self._grid_y
        map_x = a[..., 0, 0] * gx + a[..., 0, 1] * gy + a[..., 0, 2]
        map_y = a[..., 1, 0] * gx + a[..., 1, 1] * gy + a[..., 1, 2]
        out = self.image.copy()
        out[y0 : y0 + bh, x0 : x0 + bw] = cv2.remap(
            self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        return out


_MOUTH_INTERIOR = (62, 24, 22)  # RGB: the dark red-brown of an open mouth's shadowed inside


def _box_anchors(x0: int, y0: int, x1: int, y1: int, spacing: float) -> np.ndarray:
    """Fixed points along the border of the warped box (corners included)."""
    nx = max(int(np.ceil((x1 - x0) / spacing)), 1)
    ny = max(int(np.ceil((y1 - y0) / spacing)), 1)
    xs = np.linspace(x0, x1, nx + 1)
    ys = np.linspace(y0, y1, ny + 1)
    top = np.stack([xs, np.full_like(xs, y0)], axis=1)
    bottom = np.stack([xs, np.full_like(xs, y1)], axis=1)
    left = np.stack([np.full_like(ys[1:-1], x0), ys[1:-1]], axis=1)
    right = np.stack([np.full_like(ys[1:-1], x1), ys[1:-1]], axis=1)
    return np.vstack([top, bottom, left, right]).astype(np.float64)


@functools.lru_cache(maxsize=1)
def _astronaut_landmarks_cached() -> np.ndarray:
    from cer_desktop.vision.mp_import import import_mediapipe

    mp = import_mediapipe()
    from skimage import data

    image = np.ascontiguousarray(data.astronaut())
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    ) as mesh:
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise RuntimeError("MediaPipe found no face in skimage's astronaut photo")
    pts = result.multi_face_landmarks[0].landmark
    lm = np.array([[p.x * w, p.y * h, p.z * w] for p in pts], dtype=np.float32)
    lm.flags.writeable = False
    return lm


def astronaut_landmarks() -> np.ndarray:
    """The 478x3 MediaPipe landmarks (x, y in pixels, z in MediaPipe's scale times width) of
    `skimage.data.astronaut()`, detected once per process (static mode, refined irises).

    Returns a read-only array shared between callers.
    """
    return _astronaut_landmarks_cached()
