"""The expressions the demo's warps act out: displacement fields per action (in units of the
inter-ocular distance, in the face's own frame), and the named basic and compound expressions
as weighted sums of actions. Purely geometric, apart from the AU measurement code, so that
tests of the recognizer are not circular. `ExpressionWarper` (expression_warp.py) applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
