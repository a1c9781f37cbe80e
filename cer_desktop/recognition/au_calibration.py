"""Still-mode calibration of the action units: a neutral face as MediaPipe measures real
people, and how far neutral faces of different people spread around it.

Provenance: measured with `cer bench instant --calibrate` on the 40 Neutral photographs of
the project's real-face development set (in-the-wild, tightly cropped celebrity stills;
evaluation data, not shipped), with mediapipe 0.10.21's face mesh on padded stills. Only
the Neutral class is used: the prior is the per-feature median, and each AU's spread is the
standard deviation of its raw displacement (`au.raw_actions`) against that prior. The
values are rounded; they are reference data of the instant tier, like the full scales in
`au.py`, and change with `INSTANT_VERSION` (`instant.py`).
"""

from __future__ import annotations

#: Median feature values (`au_geometry.FEATURE_NAMES`, IOD units) of real neutral faces.
STILL_PRIOR_VALUES: dict[str, float] = {
    "brow_inner": 0.293,
    "brow_outer": 0.249,
    "brow_gap": 0.434,
    "upper_lid": 0.089,
    "lower_lid": -0.050,
    "cheek": -0.397,
    "nose_wing": -0.599,
    "upper_lip": -0.967,
    "corner_raise": -0.005,
    "mouth_width": 0.783,
    "lip_gap": 0.076,
    "lip_thickness": 0.233,
    "lower_lip": -1.343,
    "chin_lip": 0.478,
    "jaw": 1.569,
}

#: Per AU: the spread (IOD units) of its displacement between neutral faces of different
#: people; still mode widens the AU's dead zone by it and reaches full intensity
#: `au._SPREADS_TO_FULL` spreads further.
STILL_SPREAD: dict[str, float] = {
    "AU01": 0.043,
    "AU02": 0.041,
    "AU04": 0.059,
    "AU05": 0.028,
    "AU06": 0.026,
    "AU07": 0.027,
    "AU09": 0.051,
    "AU10": 0.082,
    "AU12": 0.028,
    "AU15": 0.027,
    "AU17": 0.065,
    "AU20": 0.082,
    "AU23": 0.061,
    "AU24": 0.040,
    "AU25": 0.100,
    "AU26": 0.093,
    "AU41": 0.027,
}

# --- the Tasks face landmarker's mesh -------------------------------------------------------
# The face landmarker (`vision/landmarker_file.py`, the default since instant tier v3) fits
# the same 478-point topology as the legacy face mesh, but places some points differently on
# the same photographs: on the 40 neutral faces above its median brows sit 0.032 IOD higher
# over the eyes, its mouth 0.032 IOD wider and its lips 0.030 IOD further apart. The geometry
# AUs of the blendshape source are read from this mesh, so they have a prior of their own,
# measured the same way (`cer bench instant --calibrate` with the landmarker, mediapipe
# 0.10.21, `face_landmarker.task` sha256 64184e22...; rounded).

#: Median feature values of real neutral faces as the face landmarker measures them.
LANDMARKER_PRIOR_VALUES: dict[str, float] = {
    "brow_inner": 0.325,
    "brow_outer": 0.267,
    "brow_gap": 0.453,
    "upper_lid": 0.106,
    "lower_lid": -0.048,
    "cheek": -0.398,
    "nose_wing": -0.593,
    "upper_lip": -0.984,
    "corner_raise": 0.002,
    "mouth_width": 0.815,
    "lip_gap": 0.106,
    "lip_thickness": 0.252,
    "lower_lip": -1.341,
    "chin_lip": 0.474,
    "jaw": 1.586,
}

#: Per AU: the spread of its displacement between neutral faces, face landmarker's mesh.
LANDMARKER_SPREAD: dict[str, float] = {
    "AU01": 0.044,
    "AU02": 0.044,
    "AU04": 0.057,
    "AU05": 0.037,
    "AU06": 0.025,
    "AU07": 0.026,
    "AU09": 0.053,
    "AU10": 0.080,
    "AU12": 0.030,
    "AU15": 0.029,
    "AU17": 0.079,
    "AU20": 0.068,
    "AU23": 0.052,
    "AU24": 0.043,
    "AU25": 0.091,
    "AU26": 0.103,
    "AU41": 0.033,
}
