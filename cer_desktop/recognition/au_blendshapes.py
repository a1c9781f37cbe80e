"""Action units from MediaPipe's face blendshapes (the Tasks `FaceLandmarker`'s 52 scores).

MediaPipe's blendshape model (`face_blendshapes.tflite`, inside `face_landmarker.task`)
scores 52 ARKit-style shapes from 0 to 1. Each shape is named after a facial action, and
most of them correspond to one FACS action unit; the pairs left/right are averaged:

==============  =================================  =====================================
AU              blendshape(s)                      what the shape means (ARKit)
==============  =================================  =====================================
AU01            browInnerUp                        inner brows raised
AU02            browOuterUp{Left,Right}            outer brows raised
AU04            browDown{Left,Right}               brows lowered (and drawn together)
AU05            eyeWide{Left,Right}                upper lids raised, eyes widened
AU06            (cheekSquint{Left,Right})          cheeks raised: from the geometry, below
AU07            eyeSquint{Left,Right}              lids tightened
AU09            (noseSneer{Left,Right})            nose wrinkled: from the geometry, below
AU10            mouthUpperUp{Left,Right}           upper lip raised
AU12            mouthSmile{Left,Right}             lip corners pulled up
AU15            mouthFrown{Left,Right}             lip corners pulled down
AU17            mouthShrugLower                    lower lip pushed up by the chin
AU20            mouthStretch{Left,Right}           lip corners pulled sideways
AU23            mouthRoll{Lower,Upper}             lips tightened, rolled in (thinned)
AU24            mouthPress{Left,Right}             lips pressed together
AU25            jawOpen - mouthClose, or           lips apart
                mouthLowerDown{Left,Right}
AU26            jawOpen                            jaw dropped
AU41            eyeBlink{Left,Right}               upper lids lowered
==============  =================================  =====================================

Two corrections, both the blendshape counterpart of what the geometry path does (`au.py`):
MediaPipe's model moves `mouthUpperUp` and `mouthStretch` along with a smile (a smile pulls
the corners up *and* out and lifts the upper lip a little), and `mouthStretch` along with an
open jaw; that share is taken off AU10 and AU20, so a smile is not read as disgust or fear.
And two shapes barely move on real faces: `cheekSquint` and `noseSneer` read 0.00 on average
on every class of the project's real-face set, so AU06 and AU09 come from the landmarks'
geometry (`au_geometry`; the Tasks landmarker gives the same 478-point mesh).

Three AUs need the blendshapes and the geometry to *agree* (`AGREE`: the smaller of the two
intensities counts). The brow raisers AU01 and AU02: the brow shapes vary between neutral
faces of different people (and with the head's pitch) about as much as with an expression --
on the real-face set `browInnerUp` cleared its still-mode dead zone on 28 % of the neutral
faces and 38 % of the disgusted ones, which then read as surprise -- while the geometry
measures the brows over the eyes in the face's own frame and scale, with errors of its own;
an inner or outer brow that both see raised is raised. And the lip stretcher AU20:
`mouthStretch` moves with smiles and open jaws (the shares above are estimates), the
geometry measures the mouth's width itself. On that set, agreement for these three (with the
landmarker's own geometry prior, below) moved the macro-recall from 0.438 to 0.463 (0.441 ->
0.466 on random halves, geometry calibrated on the other half's neutral faces); for the other
AUs it changed nothing or lost (`AU07`'s geometry sees too little of a squint), so they keep
their blendshapes alone.

Each AU's *score* (0..1) is read against a baseline (the person's own rest face in live mode;
in still mode the population prior: median scores of real neutral faces, `STILL_PRIOR`) and
mapped to OpenFace's 0..5 intensity: ``clip(5 * (score - baseline - dead) / full, 0, 5)``.
The dead zone and full scale are round, absolute values (blendshape scores are already
normalised by MediaPipe's model: 0 at rest, 1 at the shape's extreme); in still mode the dead
zone widens by half the spread of the score between neutral faces of different people.

The feature vector of a face is its 17 AU scores followed by its geometry features
(`au_geometry.FEATURE_NAMES`), so a learned baseline holds both. In still mode the geometry
is read against the face landmarker's own prior and spread (`au_calibration`'s
`LANDMARKER_*`: its mesh sits differently from the legacy face mesh's on the same faces).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cer_desktop.recognition.au import (
    AU_MAX,
    AU_NAMES,
    FEATURE_NAMES,
    LandmarkShapeError,
    aus_from_features,
    face_features,
    prior_vector,
    spread_vector,
)
from cer_desktop.recognition.au_calibration import LANDMARKER_PRIOR_VALUES, LANDMARKER_SPREAD

__all__ = [
    "AGREE",
    "BLENDSHAPE_AUS",
    "BLEND_PRIOR",
    "FROM_GEOMETRY",
    "LANDMARKER_PRIOR",
    "STILL_PRIOR",
    "STILL_SPREAD",
    "aus_from_blend_features",
    "blend_features",
    "blendshape_scores",
]

#: AU -> the blendshapes whose mean is its score (AU25 is computed, see `blendshape_scores`).
BLENDSHAPE_AUS: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"),
    "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"),
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"),
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU23": ("mouthRollLower", "mouthRollUpper"),
    "AU24": ("mouthPressLeft", "mouthPressRight"),
    "AU25": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "AU26": ("jawOpen",),
    "AU41": ("eyeBlinkLeft", "eyeBlinkRight"),
}
assert tuple(BLENDSHAPE_AUS) == AU_NAMES

#: AUs read from the landmarks' geometry instead (their blendshapes barely move).
FROM_GEOMETRY: tuple[str, ...] = ("AU06", "AU09")
#: AUs that count only as far as the blendshapes and the geometry both see them.
AGREE: tuple[str, ...] = ("AU01", "AU02", "AU20")

_IDX = {a: i for i, a in enumerate(AU_NAMES)}
_N_AU = len(AU_NAMES)
# Share of the smile (AU12) score that MediaPipe's model adds to mouthUpperUp (AU10) and
# mouthStretch (AU20), and share of the jaw drop (AU26) it adds to mouthStretch.
_SMILE_IN_UPPER_LIP = 0.5
_SMILE_IN_STRETCH = 0.5
_JAW_IN_STRETCH = 0.3


def blendshape_scores(shapes: Mapping[str, float]) -> np.ndarray:
    """Per-AU scores (0..1, `AU_NAMES` order) from one face's blendshapes.

    Raises `LandmarkShapeError` (a ValueError) when a needed blendshape is missing.
    """
    try:
        out = np.array(
            [float(np.mean([shapes[n] for n in names])) for names in BLENDSHAPE_AUS.values()]
        )
        lips_apart = float(shapes["jawOpen"]) - float(shapes["mouthClose"])
    except KeyError as exc:
        raise LandmarkShapeError(f"blendshape {exc} missing (not MediaPipe's 52?)") from exc
    if not (np.all(np.isfinite(out)) and np.isfinite(lips_apart)):
        raise LandmarkShapeError("blendshape scores contain NaN or infinite values")
    out = np.clip(out, 0.0, 1.0)
    smile, jaw = out[_IDX["AU12"]], out[_IDX["AU26"]]
    out[_IDX["AU10"]] -= _SMILE_IN_UPPER_LIP * smile
    out[_IDX["AU20"]] -= _SMILE_IN_STRETCH * smile + _JAW_IN_STRETCH * jaw
    # lips part when the jaw opens without the lips staying closed (mouthClose), or when the
    # lower lip is pulled down on its own
    out[_IDX["AU25"]] = max(out[_IDX["AU25"]], lips_apart)
    return np.clip(out, 0.0, 1.0)


def blend_features(shapes: Mapping[str, float], landmarks: np.ndarray) -> np.ndarray:
    """A face's feature vector: its AU scores, then its geometry features."""
    return np.concatenate([blendshape_scores(shapes), face_features(landmarks)])


# --- still-mode calibration -----------------------------------------------------------
# Measured like `au_calibration` (whose provenance applies): `cer bench instant --calibrate`
# on the 40 Neutral photographs of the real-face development set, face landmarker on padded
# stills, rounded. The prior is the median score, the spread the standard deviation.
# (AU06 and AU09 are read from the geometry, with `au_calibration`'s prior and spread.)
#: Median per-AU score (`AU_NAMES` order) of real neutral faces (still mode's baseline).
STILL_PRIOR: np.ndarray = np.array(
    # 01  02    04    05    06   07    09   10   12   15   17   20   23    24    25    26    41
    [0.03, 0.04, 0.07, 0.01, 0.0, 0.27, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.02, 0.05, 0.03, 0.06]
)
#: Spread of each AU's score between neutral faces of different people.
STILL_SPREAD: np.ndarray = np.array(
    [0.20, 0.18, 0.23, 0.04, 0.0, 0.20, 0.0, 0.03, 0.09, 0.05, 0.05, 0.01, 0.10, 0.04, 0.19, 0.09, 0.15]
)  # fmt: skip
for _a in (STILL_PRIOR, STILL_SPREAD):
    _a.flags.writeable = False
#: Real neutral faces' geometry features as the face landmarker measures them.
LANDMARKER_PRIOR: np.ndarray = prior_vector(LANDMARKER_PRIOR_VALUES)
_LANDMARKER_SPREAD = spread_vector(LANDMARKER_SPREAD)
#: The default baseline of the blendshape source: the prior scores, then the geometry prior.
BLEND_PRIOR: np.ndarray = np.concatenate([STILL_PRIOR, LANDMARKER_PRIOR])
BLEND_PRIOR.flags.writeable = False

_DEAD = 0.05  # a little above the frame-to-frame jitter of the scores
_FULL = 0.5  # half the score's range: a clear action
_SPREADS_DEAD = 0.5


def aus_from_blend_features(
    features: np.ndarray, baseline: np.ndarray | None = None, prior_share: float | None = None
) -> np.ndarray:
    """AU intensities (0..5, `AU_NAMES` order) of a `blend_features` vector against a baseline.

    Same contract as `au.aus_from_features`: `baseline` None is the population prior (still
    mode, `prior_share` 1); `prior_share` widens the dead zones by that share of the spread
    between people.
    """
    feats = np.asarray(features, dtype=np.float64)
    base = BLEND_PRIOR if baseline is None else np.asarray(baseline, dtype=np.float64)
    size = _N_AU + len(FEATURE_NAMES)
    if feats.shape != (size,) or base.shape != (size,):
        raise LandmarkShapeError(
            f"blendshape features and baseline must have {size} values, "
            f"got {feats.shape} and {base.shape}"
        )
    share = (1.0 if baseline is None else 0.0) if prior_share is None else float(prior_share)
    share = min(max(share, 0.0), 1.0)
    dead = _DEAD + share * _SPREADS_DEAD * STILL_SPREAD
    raw = feats[:_N_AU] - base[:_N_AU]
    out = np.clip(AU_MAX * (raw - dead) / _FULL, 0.0, AU_MAX)
    geometry = aus_from_features(feats[_N_AU:], base[_N_AU:], share, _LANDMARKER_SPREAD)
    for au in FROM_GEOMETRY:
        out[_IDX[au]] = geometry[_IDX[au]]
    for au in AGREE:
        out[_IDX[au]] = min(out[_IDX[au]], geometry[_IDX[au]])
    return out
