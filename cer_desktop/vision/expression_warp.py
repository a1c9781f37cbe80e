"""Geometric facial-expression warps of a real face photo, for the demo source and tests.

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
from collections.abc import Callable, Mapping

import cv2
import numpy as np

from cer_desktop.vision.mesh import (
    CHEEKS,
    CHIN_REGION,
    EYE_CORNERS,
    FACE_OVAL,
    IRIS_CENTRES,
    LEFT_EYEBROW,
    LOWER_LIDS,
    LOWER_LIP_INNER_CONTOUR,
    LOWER_LIP_OUTER,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_LINE,
    NOSE_SIDES,
    PHILTRUM,
    RIGHT_EYEBROW,
    UPPER_LIDS,
    UPPER_LIP_INNER_CONTOUR,
    UPPER_LIP_OUTER,
)

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

Expression = str
"""A named expression: a key of `EXPRESSIONS` ("happy", "happily_surprised", ...)."""


class UnknownExpression(ValueError):
    """An expression or action name that is not defined here."""


# MediaPipe face-mesh index groups live in vision/mesh.py (one table for the whole app).
UPPER_LIP = UPPER_LIP_OUTER + UPPER_LIP_INNER_CONTOUR
LOWER_LIP = LOWER_LIP_OUTER + LOWER_LIP_INNER_CONTOUR
LIPS = UPPER_LIP + LOWER_LIP
MOUTH_CORNERS = (MOUTH_RIGHT, MOUTH_LEFT)
BROWS = RIGHT_EYEBROW + LEFT_EYEBROW

CONTROL = tuple(
    sorted(
        set(FACE_OVAL + LIPS + BROWS + UPPER_LIDS + LOWER_LIDS + EYE_CORNERS + NOSE_LINE
            + NOSE_SIDES + PHILTRUM + CHEEKS + CHIN_REGION)
    )
)  # fmt: skip
"""The landmarks that drive the warp; everything between them is interpolated."""


# --- actions: displacement fields in IOD units, in the face frame --------------------------


class _FaceGeometry:
    """Landmarks in face-frame coordinates (origin between the eyes, IOD = 1, y down)."""

    def __init__(self, points: np.ndarray) -> None:
        right_eye, left_eye = points[IRIS_CENTRES[0]], points[IRIS_CENTRES[1]]
        axis = left_eye - right_eye
        self.iod = float(np.hypot(*axis))
        if self.iod < 4.0:
            raise ValueError(f"eyes {self.iod:.1f} px apart: landmarks do not describe a face")
        self.origin = (left_eye + right_eye) / 2.0
        self.u = axis / self.iod
        self.v = np.array([-self.u[1], self.u[0]])
        rel = points - self.origin
        self.local = np.stack([rel @ self.u, rel @ self.v], axis=1) / self.iod
        loc = self.local
        self.mouth_centre = (loc[61] + loc[291] + loc[13] + loc[14]) / 4.0
        self.mouth_half_width = max(float(abs(loc[291, 0] - loc[61, 0])) / 2.0, 1e-3)
        self.chin_y = float(loc[152, 1])

    def to_image(self, local_disp: np.ndarray) -> np.ndarray:
        """Face-frame displacements (IOD units) to image-pixel displacements."""
        return self.iod * (local_disp[:, :1] * self.u + local_disp[:, 1:2] * self.v)

    def mouth_s(self) -> np.ndarray:
        """Signed horizontal position relative to the mouth: -1 / +1 at the corners."""
        return np.clip((self.local[:, 0] - self.mouth_centre[0]) / self.mouth_half_width, -1.3, 1.3)

    def inner_weight(self) -> np.ndarray:
        """1 near the face midline, falling to 0 at the outer brow ends."""
        return np.clip((0.85 - np.abs(self.local[:, 0])) / 0.65, 0.0, 1.0)


def _idx(group: tuple[int, ...]) -> np.ndarray:
    return np.asarray(group, dtype=np.intp)


def _lip_corner_pull(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    s = g.mouth_s()
    lips = _idx(LIPS)
    d[lips, 0] = 0.07 * s[lips]
    d[lips, 1] = -0.11 * s[lips] ** 2
    # The skin beside the corners (nasolabial fold, lower cheek) follows part of the way.
    side = _idx((205, 425, 36, 266, 187, 411))
    d[side, 0] = 0.03 * np.sign(s[side])
    d[side, 1] = -0.04
    return d


def _cheek_raise(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    d[_idx(CHEEKS), 1] = -0.04
    d[_idx(LOWER_LIDS), 1] = -0.025
    return d


def _brow_raise(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    d[_idx(BROWS), 1] = -0.15
    d[_idx(UPPER_LIDS), 1] = -0.02
    return d


def _inner_brow_raise(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    brows = _idx(BROWS)
    w = g.inner_weight()[brows]
    d[brows, 1] = -0.15 * w + 0.03 * (1.0 - w)  # inner ends up, outer ends slightly down
    return d


def _brow_lower(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    brows = _idx(BROWS)
    d[brows, 1] = 0.06 + 0.05 * g.inner_weight()[brows]
    d[_idx(UPPER_LIDS), 1] = 0.015
    return d


def _brow_together(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    brows = _idx(BROWS)
    # MediaPipe registers only about a third of a horizontal brow shift (its brows follow the
    # eyes), so the whole brow moves, the inner end most.
    w = 0.5 + 0.5 * g.inner_weight()[brows]
    d[brows, 0] = -np.sign(g.local[brows, 0]) * 0.10 * w
    return d


def _jaw_drop(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    drop = 0.30
    # Everything below the mouth line moves down, fully at the lower lip and chin, fading
    # out up the jaw line so the face oval stays smooth.
    span = max(g.chin_y - g.mouth_centre[1], 1e-3)
    t = np.clip((g.local[:, 1] - g.mouth_centre[1]) / span, 0.0, 1.0)
    oval = _idx(FACE_OVAL)
    d[oval, 1] = drop * t[oval] ** 0.7
    for group in (LOWER_LIP, CHIN_REGION):
        d[_idx(group), 1] = drop
    d[_idx(MOUTH_CORNERS), 1] = 0.35 * drop
    d[_idx(MOUTH_CORNERS), 0] = -0.03 * np.sign(g.mouth_s()[_idx(MOUTH_CORNERS)])
    d[_idx(UPPER_LIP_INNER_CONTOUR), 1] = -0.02
    return d


def _lip_press(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    s = g.mouth_s()
    centre = 1.0 - np.minimum(s**2, 1.0)
    up, low = _idx(UPPER_LIP), _idx(LOWER_LIP)
    d[up, 1] = 0.05 * centre[up]  # upper lip down onto the mouth line
    d[low, 1] = -0.06 * centre[low]  # lower lip up
    lips = _idx(LIPS)
    d[lips, 0] = -0.04 * s[lips]  # and a little narrower
    return d


def _lip_corner_depress(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    s = g.mouth_s()
    lips = _idx(LIPS)
    d[lips, 1] = 0.10 * s[lips] ** 2
    d[lips, 0] = -0.02 * s[lips]
    side = _idx((205, 425, 36, 266))
    d[side, 1] = 0.02
    return d


def _lip_stretch(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    s = g.mouth_s()
    lips = _idx(LIPS)
    d[lips, 0] = 0.10 * s[lips]
    d[lips, 1] = 0.03 * s[lips] ** 2
    return d


def _upper_lip_raise(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    s = g.mouth_s()
    up = _idx(UPPER_LIP)
    d[up, 1] = -0.09 * (1.0 - 0.6 * np.minimum(s[up] ** 2, 1.0))
    d[_idx(PHILTRUM), 1] = -0.04
    return d


def _nose_wrinkle(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    d[_idx(NOSE_SIDES), 1] = -0.05
    d[_idx((2, 94, 19)), 1] = -0.02
    d[_idx((50, 280, 101, 330)), 1] = -0.03
    return d


def _lid_raise(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    d[_idx(UPPER_LIDS), 1] = -0.04
    return d


def _lid_tighten(g: _FaceGeometry) -> np.ndarray:
    d = np.zeros_like(g.local)
    d[_idx(UPPER_LIDS), 1] = 0.025
    d[_idx(LOWER_LIDS), 1] = -0.02
    return d


ACTIONS: dict[str, Callable[[_FaceGeometry], np.ndarray]] = {
    "lip_corner_pull": _lip_corner_pull,
    "cheek_raise": _cheek_raise,
    "brow_raise": _brow_raise,
    "inner_brow_raise": _inner_brow_raise,
    "brow_lower": _brow_lower,
    "brow_together": _brow_together,
    "jaw_drop": _jaw_drop,
    "lip_press": _lip_press,
    "lip_corner_depress": _lip_corner_depress,
    "lip_stretch": _lip_stretch,
    "upper_lip_raise": _upper_lip_raise,
    "nose_wrinkle": _nose_wrinkle,
    "lid_raise": _lid_raise,
    "lid_tighten": _lid_tighten,
}
"""Region movements, each a displacement field over the 478 landmarks (IOD units)."""

BASIC_EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"lip_corner_pull": 1.0, "cheek_raise": 0.6},
    "surprise": {"brow_raise": 1.0, "lid_raise": 0.6, "jaw_drop": 1.0},
    "anger": {"brow_lower": 1.0, "brow_together": 1.0, "lip_press": 1.0, "lid_tighten": 0.7},
    "sad": {"inner_brow_raise": 1.0, "brow_together": 0.4, "lip_corner_depress": 1.0},
    "fear": {
        "brow_raise": 0.7,
        "inner_brow_raise": 0.3,
        "brow_together": 0.8,
        "lid_raise": 0.8,
        "lip_stretch": 1.0,
        "jaw_drop": 0.35,
    },
    "disgust": {
        "upper_lip_raise": 1.0,
        "nose_wrinkle": 1.0,
        "brow_lower": 0.5,
        "cheek_raise": 0.3,
    },
}
"""The basic expressions as mixes of actions."""

COMPOUND_EXPRESSIONS: dict[str, dict[str, float]] = {
    "happily_surprised": {"happy": 1.0, "surprise": 1.0},
    "happily_disgusted": {"happy": 1.0, "upper_lip_raise": 0.8, "nose_wrinkle": 0.6},
    "sadly_fearful": {
        "inner_brow_raise": 1.0,
        "brow_together": 1.0,
        "lip_stretch": 0.8,
        "lip_corner_depress": 0.5,
        "jaw_drop": 0.3,
    },
    "sadly_angry": {
        "brow_lower": 1.0,
        "brow_together": 1.0,
        "lid_tighten": 0.7,
        "lip_corner_depress": 1.0,
    },
    "sadly_surprised": {
        "inner_brow_raise": 1.0,
        "brow_together": 0.8,
        "jaw_drop": 1.0,
        "lip_corner_depress": 0.4,
    },
    "sadly_disgusted": {"sad": 0.7, "disgust": 0.8},
    "fearfully_angry": {
        "brow_lower": 1.0,
        "brow_together": 1.0,
        "lip_stretch": 1.0,
        "jaw_drop": 0.3,
    },
    "fearfully_surprised": {"surprise": 1.0, "lip_stretch": 1.0, "brow_together": 0.3},
    "angrily_surprised": {"brow_lower": 1.0, "brow_together": 1.0, "jaw_drop": 1.0},
    "angrily_disgusted": {
        "brow_lower": 1.0,
        "brow_together": 1.0,
        "upper_lip_raise": 1.0,
        "nose_wrinkle": 0.6,
    },
    "disgustedly_surprised": {
        "brow_raise": 1.0,
        "lid_raise": 1.0,
        "upper_lip_raise": 1.0,
        "nose_wrinkle": 0.5,
    },
}
"""Compound expressions as mixes of basic expressions and actions."""

EXPRESSIONS: dict[str, dict[str, float]] = {**BASIC_EXPRESSIONS, **COMPOUND_EXPRESSIONS}
"""Every named expression (basic and compound)."""


def expression_weights(expression: Expression | Mapping[str, float]) -> dict[str, float]:
    """Resolve an expression name or a mix {name: weight} to weights over `ACTIONS`.

    Mix keys may be expression names, action names, or both; weights add up linearly.
    Raises `UnknownExpression` for a name defined nowhere.
    """
    if isinstance(expression, str):
        mix: Mapping[str, float] = {expression: 1.0}
    elif isinstance(expression, Mapping):
        mix = expression
    else:
        raise UnknownExpression(f"an expression is a name or a dict of weights, not {expression!r}")
    out: dict[str, float] = {}
    for name, weight in mix.items():
        key = str(name).lower().replace(" ", "_").replace("-", "_")
        if key in ACTIONS:
            out[key] = out.get(key, 0.0) + float(weight)
        elif key in EXPRESSIONS:
            for action, w in expression_weights(EXPRESSIONS[key]).items():
                out[action] = out.get(action, 0.0) + float(weight) * w
        else:
            raise UnknownExpression(
                f"unknown expression {name!r}; known: {', '.join(EXPRESSIONS)}; "
                f"actions: {', '.join(ACTIONS)}"
            )
    return out


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
