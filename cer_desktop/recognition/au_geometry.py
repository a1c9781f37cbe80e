"""Face geometry for action units: head pose removed, an eye-aligned frame, and the feature
vector AUs are read from (MediaPipe face-mesh indices; no AU logic here, see `au.py`).

Every point is expressed in an *eye-aligned frame*: the origin midway between the eye
centres (mean of each eye's two corners), x from the subject's right eye to the left eye, y
down the face, and the unit the inter-ocular distance (IOD). When the landmarks carry
MediaPipe's depth, the head is first turned to face the camera (`frontalize`), so yaw and
pitch do not read as AUs; the frame removes position, scale and roll.

Eye corners are the frame's anchors because they are the mesh points that expressions move
least. Brow heights are measured from that line, never from the lids (MediaPipe moves lids
and brows together, so a brow-to-lid distance cancels a raise).
"""

from __future__ import annotations

import numpy as np

from cer_desktop.vision import mesh

# Short names for the formulas below; the indices are vision/mesh.py's (the one table).
# "Right" is the subject's right (image left). The iris points (468..477) are not used.
R_EYE_OUTER, R_EYE_INNER = mesh.RIGHT_EYE_OUTER, mesh.RIGHT_EYE_INNER
L_EYE_INNER, L_EYE_OUTER = mesh.LEFT_EYE_INNER, mesh.LEFT_EYE_OUTER
R_EYE_TOP, R_EYE_BOTTOM = mesh.RIGHT_EYE_TOP, mesh.RIGHT_EYE_BOTTOM
L_EYE_TOP, L_EYE_BOTTOM = mesh.LEFT_EYE_TOP, mesh.LEFT_EYE_BOTTOM
R_BROW_INNER, L_BROW_INNER = mesh.AU_R_BROW_INNER, mesh.AU_L_BROW_INNER
R_BROW_OUTER, L_BROW_OUTER = mesh.AU_R_BROW_OUTER, mesh.AU_L_BROW_OUTER
R_BROW_INNERMOST, L_BROW_INNERMOST = mesh.AU_R_BROW_INNERMOST, mesh.AU_L_BROW_INNERMOST
R_CHEEK, L_CHEEK = mesh.AU_R_CHEEK, mesh.AU_L_CHEEK
R_NOSE_WING, L_NOSE_WING = mesh.AU_R_NOSE_WING, mesh.AU_L_NOSE_WING
MOUTH_R, MOUTH_L = mesh.MOUTH_RIGHT, mesh.MOUTH_LEFT
UPPER_LIP_TOP, UPPER_LIP_INNER = mesh.UPPER_LIP_TOP, mesh.UPPER_LIP_INNER
LOWER_LIP_INNER, LOWER_LIP_BOTTOM = mesh.LOWER_LIP_INNER, mesh.LOWER_LIP_BOTTOM
CHIN = mesh.CHIN
N_MESH = mesh.N_MESH

FEATURE_NAMES: tuple[str, ...] = (
    "brow_inner",  # height of the inner brows over the eye line (up = positive)
    "brow_outer",  # height of the outer brows over the eye line
    "brow_gap",  # horizontal distance between the inner brow ends
    "upper_lid",  # height of the upper lids over the eye line
    "lower_lid",  # height of the lower lids over the eye line (usually negative)
    "cheek",  # height of the cheeks over the eye line (negative)
    "nose_wing",  # height of the nose wings (alae) over the eye line (negative)
    "upper_lip",  # height of the upper lip's top over the eye line (negative)
    "corner_raise",  # mouth corners over the middle of the mouth opening
    "mouth_width",  # corner to corner
    "lip_gap",  # inner lips apart
    "lip_thickness",  # red of upper + lower lip, measured at the midline
    "lower_lip",  # height of the lower lip's bottom over the eye line (negative)
    "chin_lip",  # lower lip bottom to chin
    "jaw",  # lower lip bottom and chin below the eye line (their mean)
)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


class LandmarkShapeError(ValueError):
    """Landmarks that cannot be measured (wrong shape, too few points, NaN, degenerate eyes)."""


def _check(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks)
    if pts.ndim != 2 or pts.shape[0] < N_MESH or pts.shape[1] < 2:
        raise LandmarkShapeError(
            f"expected MediaPipe face-mesh landmarks of shape (468 or 478, 2 or 3), got {pts.shape}"
        )
    pts = pts[:N_MESH, :2].astype(np.float64, copy=False)
    if not np.all(np.isfinite(pts)):
        raise LandmarkShapeError("landmarks contain NaN or infinite values")
    return pts


def eye_frame(landmarks: np.ndarray) -> np.ndarray:
    """The (468, 2) mesh points, head pose removed (`frontalize`), in the eye-aligned frame,
    in inter-ocular-distance units."""
    pts = frontalize(landmarks)
    r_eye = (pts[R_EYE_OUTER] + pts[R_EYE_INNER]) / 2.0
    l_eye = (pts[L_EYE_OUTER] + pts[L_EYE_INNER]) / 2.0
    axis = l_eye - r_eye
    iod = float(np.hypot(axis[0], axis[1]))
    if iod < 1e-6:
        raise LandmarkShapeError("the eye centres coincide: not a face")
    ex = axis / iod
    # y is ex turned a quarter towards image-down, so a frontal, upright face keeps y down.
    ey = np.array([-ex[1], ex[0]])
    rel = pts - (r_eye + l_eye) / 2.0
    return np.stack([rel @ ex, rel @ ey], axis=1) / iod


def face_features(landmarks: np.ndarray) -> np.ndarray:
    """The geometric feature vector (`FEATURE_NAMES` order) of one face."""
    p = eye_frame(landmarks)
    x, y = p[:, 0], p[:, 1]

    def mean_y(*groups: tuple[int, ...]) -> float:
        return float(y[[i for g in groups for i in g]].mean())

    # The corners of an open mouth sit about midway between the inner lips (they are the
    # hinge of the two lips), so they are measured from that midpoint: a jaw drop alone
    # then moves them neither up (AU12) nor down (AU15).
    mouth_mid = (y[UPPER_LIP_INNER] + y[LOWER_LIP_INNER]) / 2.0
    corners = (y[MOUTH_R] + y[MOUTH_L]) / 2.0
    brow_gap = float(np.mean(x[list(L_BROW_INNERMOST)]) - np.mean(x[list(R_BROW_INNERMOST)]))
    return np.array(
        [
            -mean_y(R_BROW_INNER, L_BROW_INNER),
            -mean_y(R_BROW_OUTER, L_BROW_OUTER),
            brow_gap,
            -mean_y((R_EYE_TOP, L_EYE_TOP)),
            -mean_y((R_EYE_BOTTOM, L_EYE_BOTTOM)),
            -mean_y(R_CHEEK, L_CHEEK),
            -mean_y(R_NOSE_WING, L_NOSE_WING),
            -y[UPPER_LIP_TOP],
            mouth_mid - corners,
            x[MOUTH_L] - x[MOUTH_R],
            y[LOWER_LIP_INNER] - y[UPPER_LIP_INNER],
            (y[UPPER_LIP_INNER] - y[UPPER_LIP_TOP]) + (y[LOWER_LIP_BOTTOM] - y[LOWER_LIP_INNER]),
            -y[LOWER_LIP_BOTTOM],
            y[CHIN] - y[LOWER_LIP_BOTTOM],
            (y[CHIN] + y[LOWER_LIP_BOTTOM]) / 2.0,
        ],
        dtype=np.float64,
    )


# MediaPipe's canonical face model (mediapipe/modules/face_geometry/data/
# canonical_face_model.obj, a neutral face looking into the camera): the vertices the
# features and the head-pose estimate use, turned to image axes (x right, y down, z away
# from the camera, as MediaPipe's landmarks), in the model's centimetre units.
_CANONICAL: dict[int, tuple[float, float, float]] = {
    0: (0.0000, 3.4064, -5.9795), 1: (0.0000, 1.1269, -7.4756), 4: (0.0000, 0.4632, -7.5866),
    5: (0.0000, -0.3657, -7.2429), 6: (0.0000, -2.4733, -5.7886),
    8: (0.0000, -4.0190, -5.2848), 9: (0.0000, -4.8860, -5.3853),
    10: (0.0000, -8.2618, -4.4815), 13: (0.0000, 3.9944, -5.2195),
    14: (0.0000, 4.5424, -5.4048), 17: (0.0000, 5.3651, -5.5354),
    21: (-7.0880, -5.4348, -0.0996), 33: (-4.4459, -2.6640, -3.1734),
    46: (-5.2533, -3.8816, -3.3632), 48: (-1.6086, 0.9425, -5.8142),
    50: (-4.7655, 0.7016, -3.5346), 53: (-4.5886, -4.3020, -4.0485),
    54: (-6.2793, -6.6154, -1.4259), 55: (-1.2209, -4.1422, -5.1060),
    61: (-2.4562, 4.3426, -4.2839), 63: (-4.9859, -4.8025, -3.7520),
    64: (-1.5923, 1.2577, -5.4569), 65: (-2.6445, -4.5247, -4.9216),
    66: (-2.7603, -5.1010, -5.0160), 67: (-3.5240, -8.0060, -3.7292),
    70: (-5.7210, -4.2546, -2.8309), 103: (-5.1332, -7.4856, -2.6604),
    107: (-1.3956, -5.0120, -5.3160), 109: (-1.8914, -8.2364, -4.2750),
    117: (-5.2587, -0.9458, -2.9743), 127: (-7.7431, -2.3650, 2.0052),
    129: (-1.7858, 0.9783, -4.8505), 133: (-1.8564, -2.5852, -3.7579),
    145: (-3.1772, -2.2943, -3.7757), 151: (0.0000, -6.5454, -5.0273),
    152: (0.0000, 9.4034, -4.2645), 159: (-3.1772, -2.9641, -3.8770),
    162: (-7.5558, -4.1068, 0.9919), 168: (0.0000, -3.2710, -5.2360),
    195: (0.0000, -1.0594, -6.7746), 197: (0.0000, -1.7284, -6.3167),
    234: (-7.6642, -0.6731, 2.4359), 251: (7.0880, -5.4348, -0.0996),
    263: (4.4459, -2.6640, -3.1734), 276: (5.2533, -3.8816, -3.3632),
    278: (1.6086, 0.9425, -5.8142), 280: (4.7655, 0.7016, -3.5346),
    283: (4.5886, -4.3020, -4.0485), 284: (6.2793, -6.6154, -1.4259),
    285: (1.2209, -4.1422, -5.1060), 291: (2.4562, 4.3426, -4.2839),
    293: (4.9859, -4.8025, -3.7520), 294: (1.5923, 1.2577, -5.4569),
    295: (2.6445, -4.5247, -4.9216), 296: (2.7603, -5.1010, -5.0160),
    297: (3.5240, -8.0060, -3.7292), 300: (5.7210, -4.2546, -2.8309),
    332: (5.1332, -7.4856, -2.6604), 336: (1.3956, -5.0120, -5.3160),
    338: (1.8914, -8.2364, -4.2750), 346: (5.2587, -0.9458, -2.9743),
    356: (7.7431, -2.3650, 2.0052), 358: (1.7858, 0.9783, -4.8505),
    362: (1.8564, -2.5852, -3.7579), 374: (3.1772, -2.2943, -3.7757),
    386: (3.1772, -2.9641, -3.8770), 389: (7.5558, -4.1068, 0.9919),
    454: (7.6642, -0.6731, 2.4359),
}  # fmt: skip

# Points that move little with expressions: the head pose is estimated from them.
_STABLE = mesh.POSE_STABLE_POINTS
_STABLE_REF = np.array([_CANONICAL[i] for i in _STABLE], dtype=np.float64)
_STABLE_REF -= _STABLE_REF.mean(axis=0)


def canonical_landmarks() -> np.ndarray:
    """A (468, 3) landmark array of MediaPipe's canonical neutral face, frontal, scaled to a
    60-pixel eye distance (only the points this module uses are filled in; the rest sit at
    the face centre)."""
    scale = 60.0 / (2 * 3.151146)  # canonical eye centres are 2 * 3.151 cm apart
    pts = np.zeros((N_MESH, 3), dtype=np.float64)
    for i, xyz in _CANONICAL.items():
        pts[i] = xyz
    pts *= scale
    pts[:, :2] += 200.0
    return pts


def frontalize(landmarks: np.ndarray) -> np.ndarray:
    """(468, 2) points of the face turned to look into the camera, when the landmarks carry
    MediaPipe's depth (z in the same scale as x); else the x, y as given.

    The head rotation is the least-squares (Kabsch) rotation of the stable points onto the
    canonical face's; applying its inverse removes yaw and pitch, which otherwise shorten
    vertical or horizontal distances and read as action units (a nod looks like a frown).
    """
    pts = np.asarray(landmarks)
    xy = _check(pts)
    if pts.shape[1] < 3:
        return xy
    p3 = pts[:N_MESH, :3].astype(np.float64)
    if not np.all(np.isfinite(p3[:, 2])):
        raise LandmarkShapeError("landmark depth (z) contains NaN or infinite values")
    stable = p3[list(_STABLE)]
    centre = stable.mean(axis=0)
    src = stable - centre
    spread_xy = float(np.sqrt((src[:, :2] ** 2).sum(axis=1).mean()))
    if spread_xy < 1e-9 or float(np.std(src[:, 2])) < 0.02 * spread_xy:
        return xy  # no usable depth (2-D data padded with zeros)
    u, _, vt = np.linalg.svd(src.T @ _STABLE_REF)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt  # row vectors: src @ rot ~ reference
    return ((p3 - centre) @ rot)[:, :2]
