"""Action-unit evidence measured from MediaPipe's 478 face-mesh landmarks against a neutral baseline.

How it works
------------
1. `face_features(landmarks)` turns one face into a small vector of geometric features
   (`FEATURE_NAMES`): brow heights over the eye line, eye aperture, lid and cheek heights, nose
   wing height, lip heights and thicknesses, mouth width and opening, chin drop. When the
   landmarks carry MediaPipe's depth, the head is first turned to face the camera
   (`frontalize`: Kabsch rotation of stable points onto MediaPipe's canonical face), so yaw
   and pitch do not read as AUs. Every point is then expressed in an *eye-aligned frame*: the
   origin is midway between the eye centres (mean of each eye's two corners), the x axis runs
   from the subject's right eye to the left eye, y points down the face, and the unit is the
   inter-ocular distance. So the features do not change when the face moves, scales or rolls
   (in-plane rotation) in the image.
2. `aus_from_features(features, baseline)` compares them with a *neutral baseline* feature
   vector of the same face (learned per track by `InstantRecognizer`, or the canonical prior
   `NEUTRAL_PRIOR` measured on MediaPipe's canonical face model) and maps each AU's signed
   displacement to an intensity on OpenFace's 0..5 scale:
   ``clip(5 * (displacement - dead_zone) / full_scale, 0, 5)``. The dead zone absorbs
   landmark jitter; `full_scale` is the displacement (in inter-ocular units) of a maximal
   action.
3. `measure_aus(landmarks, baseline)` does both and returns ``{"AU01": 0.0, ...}``.

Geometry alone cannot tell some AUs apart as FACS coders do (AU6 vs AU7 both narrow the eye;
AU23 vs AU24 both thin the lips): those AUs share features and are separated by the
direction of the other measurements (e.g. AU6 needs the lower lid/cheek to rise, AU7 the
aperture to shrink). AU11, AU14 and others the prototypes mention are not measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# --- MediaPipe canonical mesh indices ("right" = the subject's right = image left) ---------
R_EYE_OUTER, R_EYE_INNER, L_EYE_INNER, L_EYE_OUTER = 33, 133, 362, 263
R_EYE_TOP, R_EYE_BOTTOM, L_EYE_TOP, L_EYE_BOTTOM = 159, 145, 386, 374
R_BROW_INNER = (107, 66, 55, 65)  # upper and lower contour, inner half
L_BROW_INNER = (336, 296, 285, 295)
R_BROW_OUTER = (70, 63, 46, 53)
L_BROW_OUTER = (300, 293, 276, 283)
R_BROW_INNERMOST, L_BROW_INNERMOST = (107, 55), (336, 285)
R_CHEEK, L_CHEEK = (117, 50), (346, 280)  # below the eye / cheek apple
R_NOSE_WING, L_NOSE_WING = (129, 64, 48), (358, 294, 278)
MOUTH_R, MOUTH_L = 61, 291
UPPER_LIP_TOP, UPPER_LIP_INNER, LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 0, 13, 14, 17
CHIN = 152
N_MESH = 468  # the iris points (468..477) are not used

FEATURE_NAMES: tuple[str, ...] = (
    "brow_inner",  # height of the inner brows over the eye line (up = positive)
    "brow_outer",  # height of the outer brows over the eye line
    "brow_gap",  # horizontal distance between the inner brow ends
    "upper_lid",  # height of the upper lids over the eye line
    "lower_lid",  # height of the lower lids over the eye line (usually negative)
    "cheek",  # height of the cheeks over the eye line (negative)
    "nose_wing",  # height of the nose wings (alae) over the eye line (negative)
    "upper_lip",  # height of the upper lip's top over the eye line (negative)
    "corner_raise",  # mouth corners over the upper inner lip, opening-compensated
    "mouth_width",  # corner to corner
    "lip_gap",  # inner lips apart
    "lip_thickness",  # red of upper + lower lip, measured at the midline
    "lower_lip",  # height of the lower lip's bottom over the eye line (negative)
    "chin_lip",  # lower lip bottom to chin
    "jaw",  # chin below the eye line
)
_F = {name: i for i, name in enumerate(FEATURE_NAMES)}

AU_NAMES: tuple[str, ...] = (
    "AU01",  # inner brow raiser
    "AU02",  # outer brow raiser
    "AU04",  # brow lowerer (down and together)
    "AU05",  # upper lid raiser
    "AU06",  # cheek raiser
    "AU07",  # lid tightener
    "AU09",  # nose wrinkler
    "AU10",  # upper lip raiser
    "AU12",  # lip corner puller
    "AU15",  # lip corner depressor
    "AU17",  # chin raiser
    "AU20",  # lip stretcher
    "AU23",  # lip tightener
    "AU24",  # lip pressor
    "AU25",  # lips part
    "AU26",  # jaw drop
)
AU_MAX = 5.0

# Fraction of the inner-lip opening that the mouth corners follow when the jaw drops: the
# corner reference sits this far from the upper lip towards the lower lip, so a jaw drop
# alone neither raises nor lowers the corners.
_CORNER_FOLLOW = 0.2
# Mouth widening per unit of lip opening that MediaPipe reports without any lip stretch.
_OPEN_WIDENING = 0.2


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

    def mean_y(*groups: tuple[int, ...] | int) -> float:
        idx: list[int] = []
        for g in groups:
            idx.extend(g if isinstance(g, tuple) else (g,))
        return float(y[idx].mean())

    lip_gap = y[LOWER_LIP_INNER] - y[UPPER_LIP_INNER]
    corner_ref = y[UPPER_LIP_INNER] + _CORNER_FOLLOW * max(lip_gap, 0.0)
    corners = (y[MOUTH_R] + y[MOUTH_L]) / 2.0
    brow_gap = float(np.mean(x[list(L_BROW_INNERMOST)]) - np.mean(x[list(R_BROW_INNERMOST)]))
    return np.array(
        [
            -mean_y(R_BROW_INNER, L_BROW_INNER),
            -mean_y(R_BROW_OUTER, L_BROW_OUTER),
            brow_gap,
            -mean_y(R_EYE_TOP, L_EYE_TOP),
            -mean_y(R_EYE_BOTTOM, L_EYE_BOTTOM),
            -mean_y(R_CHEEK, L_CHEEK),
            -mean_y(R_NOSE_WING, L_NOSE_WING),
            -y[UPPER_LIP_TOP],
            corner_ref - corners,
            x[MOUTH_L] - x[MOUTH_R],
            lip_gap,
            (y[UPPER_LIP_INNER] - y[UPPER_LIP_TOP]) + (y[LOWER_LIP_BOTTOM] - y[LOWER_LIP_INNER]),
            -y[LOWER_LIP_BOTTOM],
            y[CHIN] - y[LOWER_LIP_BOTTOM],
            y[CHIN],
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

# Points that move little with expressions (forehead, temples, nose bridge, eye corners, the
# face outline above the jaw): the head pose is estimated from them.
_STABLE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 234, 454, 127, 356,
           162, 389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)  # fmt: skip
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


NEUTRAL_PRIOR: np.ndarray = face_features(canonical_landmarks())
NEUTRAL_PRIOR.flags.writeable = False

# Per AU: (dead zone, full scale), in inter-ocular units. Full scales are the displacement of
# a strong action on an adult face (brows travel ~0.15 IOD, a wide jaw drop ~0.35 IOD);
# dead zones are a little above MediaPipe's frame-to-frame jitter on a ~50 px eye distance.
_SCALES: dict[str, tuple[float, float]] = {
    "AU01": (0.015, 0.15),
    "AU02": (0.015, 0.15),
    "AU04": (0.015, 0.15),
    "AU05": (0.008, 0.05),
    "AU06": (0.008, 0.05),
    "AU07": (0.008, 0.05),
    "AU09": (0.010, 0.07),
    "AU10": (0.012, 0.09),
    "AU12": (0.015, 0.10),
    "AU15": (0.012, 0.07),
    "AU17": (0.012, 0.08),
    "AU20": (0.015, 0.15),
    "AU23": (0.015, 0.12),
    "AU24": (0.010, 0.08),
    "AU25": (0.020, 0.20),
    "AU26": (0.020, 0.30),
}
_DEAD = np.array([_SCALES[a][0] for a in AU_NAMES])
_FULL = np.array([_SCALES[a][1] for a in AU_NAMES])

# Extra dead zone when the baseline is the canonical prior rather than the person's own
# neutral face: how far faces differ from the canonical one at rest (proportions, a
# resting mouth shape, head pitch). A still image of a stranger must move further from the
# average face than a tracked face from its own rest pose before an AU counts.
_PRIOR_SPREAD: dict[str, float] = {
    "AU01": 0.06,
    "AU02": 0.06,
    "AU04": 0.05,
    "AU05": 0.04,
    "AU06": 0.05,
    "AU07": 0.03,
    "AU09": 0.07,
    "AU10": 0.09,
    "AU12": 0.04,
    "AU15": 0.04,
    "AU17": 0.12,
    "AU20": 0.12,
    "AU23": 0.12,
    "AU24": 0.08,
    "AU25": 0.03,
    "AU26": 0.15,
}
_PRIOR_DEAD = np.array([_PRIOR_SPREAD[a] for a in AU_NAMES])


def _raw_actions(d: np.ndarray) -> np.ndarray:
    """Signed AU displacements (inter-ocular units, positive = the action) from feature deltas."""
    f = _F
    brow_in, brow_out = d[f["brow_inner"]], d[f["brow_outer"]]
    brow_gap = d[f["brow_gap"]]
    aperture = d[f["upper_lid"]] - d[f["lower_lid"]]
    lower_lid, cheek = d[f["lower_lid"]], d[f["cheek"]]
    corner = d[f["corner_raise"]]
    # MediaPipe's mesh widens the mouth as it opens (about +0.05 IOD of width for +0.3 IOD
    # of opening, measured on warped faces whose corners were moved *inwards*), so that share
    # of the widening is not taken as a corner pull or a lip stretch.
    width = d[f["mouth_width"]] - _OPEN_WIDENING * max(d[f["lip_gap"]], 0.0)
    thickness = d[f["lip_thickness"]]
    # AU4 lowers the brows and draws them together; the inner brows and the gap both count.
    au04 = -0.5 * (brow_in + brow_out) + 0.5 * max(-brow_gap, 0.0) - 0.5 * max(brow_in, 0.0)
    # AU1 is the inner brow rising more than (or without) the outer; AU2 the outer one.
    au01 = brow_in
    au02 = brow_out
    # AU6 raises cheek and lower lid; AU7 tightens the lids, shrinking the aperture.
    au06 = 0.5 * (lower_lid + cheek)
    au07 = -aperture - max(au06, 0.0)
    au05 = d[f["upper_lid"]]
    au09 = d[f["nose_wing"]]
    # The upper lip rises with AU10; AU9 lifts it too, so subtract what the nose wing did.
    au10 = d[f["upper_lip"]] - 0.5 * max(au09, 0.0)
    au12 = corner + 0.3 * max(width, 0.0)
    au15 = -corner
    au20 = width - 1.5 * max(corner, 0.0)
    # AU17 pushes the chin boss and the lower lip up: the lip must rise *and* the chin-lip
    # distance shrink (a jaw drop lowers the lip, and MediaPipe's chin lags behind it).
    au17 = min(-d[f["chin_lip"]], d[f["lower_lip"]])
    au23 = -width - 0.5 * max(corner, 0.0)
    # AU24 presses the lips together: thinner red lips, and lips parted at rest close.
    au24 = -thickness + 0.5 * max(-d[f["lip_gap"]], 0.0)
    au25 = d[f["lip_gap"]]
    au26 = d[f["jaw"]]
    return np.array(
        [
            au01,
            au02,
            au04,
            au05,
            au06,
            au07,
            au09,
            au10,
            au12,
            au15,
            au17,
            au20,
            au23,
            au24,
            au25,
            au26,
        ]
    )


def aus_from_features(
    features: np.ndarray, baseline: np.ndarray | None = None, prior_share: float | None = None
) -> np.ndarray:
    """AU intensities (0..5, `AU_NAMES` order) of a feature vector against a baseline vector.

    `prior_share` (0..1) says how much of the baseline is the canonical prior rather than
    this face's own rest pose; it widens the dead zones by that share of the spread between
    people. Default: 1 when `baseline` is None (the prior), else 0.
    """
    base = NEUTRAL_PRIOR if baseline is None else np.asarray(baseline, dtype=np.float64)
    if base.shape != (len(FEATURE_NAMES),):
        raise LandmarkShapeError(
            f"baseline must have {len(FEATURE_NAMES)} features, got {base.shape}"
        )
    share = (1.0 if baseline is None else 0.0) if prior_share is None else float(prior_share)
    dead = _DEAD + min(max(share, 0.0), 1.0) * _PRIOR_DEAD
    raw = _raw_actions(np.asarray(features, dtype=np.float64) - base)
    return np.clip(AU_MAX * (raw - dead) / _FULL, 0.0, AU_MAX)


def measure_aus(landmarks: np.ndarray, baseline: np.ndarray | None = None) -> dict[str, float]:
    """AU evidence of one face: ``{"AU01": intensity 0..5, ...}`` (OpenFace names).

    `baseline` is the same face at rest: either its landmarks (468/478 x 2/3 array) or its
    feature vector (`face_features`); None means MediaPipe's canonical neutral face
    (`NEUTRAL_PRIOR`), which suits a single still image of an unknown person.
    Raises `LandmarkShapeError` for unusable landmarks.
    """
    base: np.ndarray | None = None
    if baseline is not None:
        b = np.asarray(baseline)
        base = face_features(b) if b.ndim == 2 else b
    values = aus_from_features(face_features(landmarks), base)
    return {name: float(v) for name, v in zip(AU_NAMES, values, strict=True)}


def as_mapping(values: np.ndarray) -> Mapping[str, float]:
    """An AU intensity vector (`AU_NAMES` order) as the name -> value mapping `Prediction.au` takes."""
    return {name: round(float(v), 3) for name, v in zip(AU_NAMES, values, strict=True)}
