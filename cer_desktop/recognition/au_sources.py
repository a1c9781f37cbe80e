"""The two ways the instant tier reads action units from a face, behind one interface.

* ``blendshapes``: the face carries MediaPipe's 52 blendshape scores (the Tasks
  `FaceLandmarker`, `vision/landmarker_file.py`); AUs come from them, AU06 and AU09 from its
  landmarks' geometry (`au_blendshapes`).
* ``geometry``: landmarks only (the legacy face mesh); AUs come from the mesh's geometry
  (`au`, `au_geometry`).

Each source turns a `Face` into a feature vector, holds its own population prior (still
mode's baseline) and maps features against a baseline to AU intensities (0..5, `AU_NAMES`
order). A baseline learned from one source is never read with the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cer_desktop.contracts import Face
from cer_desktop.recognition.au import NEUTRAL_PRIOR, aus_from_features, face_features
from cer_desktop.recognition.au_blendshapes import (
    BLEND_PRIOR,
    aus_from_blend_features,
    blend_features,
)


@dataclass(frozen=True, slots=True)
class AuSource:
    name: str
    #: still mode's default baseline (a neutral face of the population)
    prior: np.ndarray
    #: landmarks or blendshapes -> feature vector; raises LandmarkShapeError when unusable
    features: Callable[[Face], np.ndarray]
    #: (features, baseline or None, prior share or None) -> AU intensities 0..5
    aus: Callable[[np.ndarray, np.ndarray | None, float | None], np.ndarray]


GEOMETRY = AuSource(
    "geometry", NEUTRAL_PRIOR, lambda face: face_features(face.landmarks), aus_from_features
)
BLENDSHAPES = AuSource(
    "blendshapes",
    BLEND_PRIOR,
    lambda face: blend_features(face.blendshapes or {}, face.landmarks),
    aus_from_blend_features,
)
SOURCES = {s.name: s for s in (GEOMETRY, BLENDSHAPES)}


def source_of(face: Face) -> AuSource:
    """Blendshapes when the face has them, else geometry."""
    return BLENDSHAPES if face.blendshapes else GEOMETRY
