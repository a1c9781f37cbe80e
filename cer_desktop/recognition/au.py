"""Action-unit evidence: geometric features (`au_geometry`) read against a neutral baseline.

How it works
------------
1. `face_features(landmarks)` (in `au_geometry`) turns one face into a small vector of
   geometric features in the face's own eye-aligned frame, in inter-ocular units (IOD),
   head pose removed.
2. `aus_from_features(features, baseline, prior_share)` compares them with a *neutral
   baseline* and maps each AU's signed displacement to an intensity on OpenFace's 0..5
   scale: ``clip(5 * (displacement - dead_zone) / full_scale, 0, 5)``.
   Two modes (`au_calibration`):
   * **live**: the baseline is the person's own neutral face, learned per track
     (`InstantRecognizer`); dead zones are a little above MediaPipe's frame-to-frame jitter;
   * **still**: no personal baseline exists (a photograph of a stranger); the baseline is
     the *population prior* (median features of real neutral faces as MediaPipe measures
     them) and each dead zone widens by the spread of that AU's displacement between
     neutral faces of different people, so ordinary variation between people reads as no
     action. ``prior_share`` (0..1) blends between the two.
3. `measure_aus(landmarks, baseline)` does both and returns ``{"AU01": 0.0, ...}``.

Geometry alone cannot tell some AUs apart as FACS coders do (AU6 vs AU7 both narrow the eye;
AU23 vs AU24 both thin the lips): those AUs share features and are separated by the
direction of the other measurements (AU6 needs the lower lid/cheek to rise, AU7 the aperture
to shrink). AU11, AU14 and others the prototypes mention are not measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cer_desktop.recognition.au_calibration import STILL_PRIOR_VALUES, STILL_SPREAD
from cer_desktop.recognition.au_geometry import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    LandmarkShapeError,
    canonical_landmarks,
    eye_frame,
    face_features,
    frontalize,
)

__all__ = [
    "AU_MAX",
    "AU_NAMES",
    "CANONICAL_FEATURES",
    "FEATURE_NAMES",
    "NEUTRAL_PRIOR",
    "LandmarkShapeError",
    "as_mapping",
    "aus_from_features",
    "canonical_landmarks",
    "eye_frame",
    "face_features",
    "frontalize",
    "measure_aus",
    "prior_vector",
    "raw_actions",
    "spread_vector",
]

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
    "AU41",  # lid droop (the upper lid lowered)
)
AU_MAX = 5.0

# Mouth widening per unit of lip opening that MediaPipe reports without any lip stretch.
_OPEN_WIDENING = 0.2
# A smile (AU12) pulls the corners obliquely: real smiles widen the mouth about three times
# as much as they raise the corners, and that widening is the smile's, not a lip stretch.
_SMILE_WIDENING = 3.0
# Lip thickness lost per unit of widening (resting red lip ~0.23 IOD thick, ~0.78 wide).
_STRETCH_THINNING = 0.3

#: Features of MediaPipe's canonical face model (a neutral face, as the 3-D model has it).
CANONICAL_FEATURES: np.ndarray = face_features(canonical_landmarks())
CANONICAL_FEATURES.flags.writeable = False


def prior_vector(values: Mapping[str, float]) -> np.ndarray:
    """A read-only feature vector (`FEATURE_NAMES` order) from calibrated median values (the
    canonical model's value for a feature they do not list)."""
    out = np.array(
        [values.get(n, float(CANONICAL_FEATURES[i])) for i, n in enumerate(FEATURE_NAMES)]
    )
    out.flags.writeable = False
    return out


def spread_vector(values: Mapping[str, float]) -> np.ndarray:
    """A read-only per-AU spread vector (`AU_NAMES` order) from a calibration's values."""
    out = np.array([values[a] for a in AU_NAMES])
    out.flags.writeable = False
    return out


#: The default baseline: a neutral face as the legacy face mesh measures real people
#: (`au_calibration`; the face landmarker's mesh has its own, `au_blendshapes`).
NEUTRAL_PRIOR: np.ndarray = prior_vector(STILL_PRIOR_VALUES)

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
    "AU26": (0.020, 0.20),
    "AU41": (0.008, 0.05),
}
_DEAD = np.array([_SCALES[a][0] for a in AU_NAMES])
_FULL = np.array([_SCALES[a][1] for a in AU_NAMES])
_PRIOR_DEAD = spread_vector(STILL_SPREAD)
# In still mode an AU reaches full intensity this many between-people spreads beyond its
# dead zone: a stranger's displacement is judged against how much neutral faces differ.
_SPREADS_TO_FULL = 3.0
_SPREADS_DEAD = 1.0


def raw_actions(d: np.ndarray) -> np.ndarray:
    """Signed AU displacements (IOD units, positive = the action, `AU_NAMES` order) from a
    feature delta (features minus baseline)."""
    f = FEATURE_INDEX
    brow_in, brow_out = d[f["brow_inner"]], d[f["brow_outer"]]
    brow_gap = d[f["brow_gap"]]
    lower_lid, cheek = d[f["lower_lid"]], d[f["cheek"]]
    corner = d[f["corner_raise"]]
    gap = d[f["lip_gap"]]
    # MediaPipe's mesh widens the mouth as it opens (about +0.05 IOD of width for +0.3 IOD
    # of opening, measured on warped faces whose corners were moved *inwards*), so that share
    # of the widening is not taken as a corner pull or a lip stretch.
    width = d[f["mouth_width"]] - _OPEN_WIDENING * max(gap, 0.0)
    thickness = d[f["lip_thickness"]]
    # AU4 lowers the brows and draws them together; the inner brows and the gap both count.
    au04 = -0.5 * (brow_in + brow_out) + 0.5 * max(-brow_gap, 0.0) - 0.5 * max(brow_in, 0.0)
    # AU6 raises the cheek, which pushes the lower lid up with it; AU7 raises the lower lid
    # on its own (the lid tightens). A lower lid rising without the cheek is AU7, not AU6.
    au06 = min(cheek, 0.5 * (lower_lid + cheek))
    # AU7 tightens the lids: the lower lid rises (beyond what the cheek lifts), and the upper
    # lid lowering counts as far as it comes with that. An upper lid lowered on its own is
    # AU41 (lid droop), AU5's opposite.
    upper_lid = d[f["upper_lid"]]
    au07 = lower_lid + 0.5 * min(max(-upper_lid, 0.0), max(lower_lid, 0.0)) - max(cheek, 0.0)
    au09 = d[f["nose_wing"]]
    # AU17 pushes the chin boss and the lower lip up: the lip must rise *and* the chin-lip
    # distance shrink (a jaw drop lowers the lip, and MediaPipe's chin lags behind it).
    au17 = min(-d[f["chin_lip"]], d[f["lower_lip"]])
    return np.array(
        [
            brow_in,  # AU01: the inner brow rises
            brow_out,  # AU02: the outer brow rises
            au04,
            d[f["upper_lid"]],  # AU05
            au06,
            au07,
            au09,
            d[f["upper_lip"]] - 0.5 * max(au09, 0.0),  # AU10: AU9 lifts the lip too
            corner + 0.3 * max(width, 0.0),  # AU12: corners up, helped by widening
            -corner,  # AU15: corners down (from the mouth's middle: not an open mouth)
            au17,
            width - _SMILE_WIDENING * max(corner, 0.0),  # AU20: widening without a smile
            # AU23: the mouth narrows (an opening mouth never narrows it, so the raw width)
            -d[f["mouth_width"]] - 0.5 * max(corner, 0.0),
            # AU24: thinner lips or a parted mouth closing; stretched lips thin by themselves
            # (their red keeps its area: thickness x width about constant), not pressed.
            -thickness - _STRETCH_THINNING * max(width, 0.0) + 0.5 * max(-gap, 0.0),
            gap,  # AU25: lips part
            d[f["jaw"]],  # AU26: lower lip and chin go down
            -upper_lid - max(lower_lid, 0.0),  # AU41: the upper lid droops on its own
        ]
    )


def aus_from_features(
    features: np.ndarray,
    baseline: np.ndarray | None = None,
    prior_share: float | None = None,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """AU intensities (0..5, `AU_NAMES` order) of a feature vector against a baseline vector.

    `prior_share` (0..1) says how much of the baseline is the population prior rather than
    this face's own rest pose; it widens the dead zones by that share of the spread between
    people. Default: 1 when `baseline` is None (the prior: still mode), else 0 (live mode).
    `spread` is that per-AU spread (`spread_vector`; default the legacy face mesh's,
    `au_calibration.STILL_SPREAD`, which goes with `NEUTRAL_PRIOR`).
    """
    base = NEUTRAL_PRIOR if baseline is None else np.asarray(baseline, dtype=np.float64)
    between = _PRIOR_DEAD if spread is None else np.asarray(spread, dtype=np.float64)
    if base.shape != (len(FEATURE_NAMES),):
        raise LandmarkShapeError(
            f"baseline must have {len(FEATURE_NAMES)} features, got {base.shape}"
        )
    share = (1.0 if baseline is None else 0.0) if prior_share is None else float(prior_share)
    share = min(max(share, 0.0), 1.0)
    dead = _DEAD + share * _SPREADS_DEAD * between
    full = (1.0 - share) * _FULL + share * _SPREADS_TO_FULL * between
    raw = raw_actions(np.asarray(features, dtype=np.float64) - base)
    return np.clip(AU_MAX * (raw - dead) / full, 0.0, AU_MAX)


def calibrate(neutral_features: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Still-mode calibration from the features (n x features) of neutral faces of different
    people: (median feature values, spread of each AU's raw displacement against them)."""
    feats = np.asarray(neutral_features, dtype=np.float64)
    prior = np.median(feats, axis=0)
    raw = np.array([raw_actions(f - prior) for f in feats])
    return (
        {n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, prior, strict=True)},
        {n: round(float(v), 4) for n, v in zip(AU_NAMES, raw.std(axis=0), strict=True)},
    )


def measure_aus(landmarks: np.ndarray, baseline: np.ndarray | None = None) -> dict[str, float]:
    """AU evidence of one face: ``{"AU01": intensity 0..5, ...}`` (OpenFace names).

    `baseline` is the same face at rest: either its landmarks (468/478 x 2/3 array) or its
    feature vector (`face_features`); None means the population prior (`NEUTRAL_PRIOR`,
    still mode), which suits a single photograph of an unknown person.
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
