"""`cer annotate` on images: each still read on its own (still mode, no smoothing across photos)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from cer_desktop.annotate.batch import annotate
from cer_desktop.contracts import Frame
from cer_desktop.labels import RAF_BASIC
from cer_desktop.recognition.instant import INSTANT_VERSION, InstantRecognizer
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.vision.analyzer import FaceAnalyzer


@pytest.fixture(scope="module")
def stills(tmp_path_factory, astronaut: np.ndarray) -> list[Path]:
    """The smiling astronaut, then the same face with the smile pulled down and the brows
    lowered, then surprised: readings that differ (the stern face for the legacy face mesh's
    geometry, the surprised one for the face landmarker's blendshapes, which still see the
    smile in the stern one) with nearly the same face box (one track id)."""
    from cer_desktop.vision.expression_warp import ExpressionWarper, astronaut_landmarks

    warper = ExpressionWarper(astronaut, astronaut_landmarks())
    stern = warper.warp({"lip_corner_depress": 2.0, "brow_lower": 1.0, "brow_together": 1.0}, 1.0)
    surprised = warper.warp("surprise", 1.0)
    folder = tmp_path_factory.mktemp("stills")
    paths = [folder / "1_photo.png", folder / "2_stern.png", folder / "3_surprised.png"]
    for path, rgb in zip(paths, (astronaut, stern, surprised), strict=True):
        assert cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    return paths


def read_alone(path: Path) -> tuple[float, ...]:
    """The instant tier's still-mode probabilities for one image on its own."""
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    with FaceAnalyzer(max_faces=1, static_images=True) as analyzer:
        faces = analyzer.process(Frame(0, 0.0, datetime.now(UTC), image))
    return InstantRecognizer(learn_baseline=False).predict(faces, RAF_BASIC)[0].probs


def test_each_still_of_a_folder_reads_as_it_does_alone(stills, tmp_path) -> None:
    # When a folder of stills is annotated (no flag),
    summary = annotate([stills[0].parent], tmp_path, label_set=RAF_BASIC, progress=False)
    assert not summary.failed, summary.table()
    folder = summary.results[0].folder
    assert folder is not None
    rows = list(read_rows(folder))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    # then each photo's probabilities are its own, not blended with its predecessor's
    # (consecutive photos read differently, so a blend would show),
    alone = [read_alone(path) for path in stills]
    steps = [np.abs(np.subtract(a, b)).max() for a, b in zip(alone, alone[1:], strict=False)]
    assert max(steps) > 0.1, alone
    for row, path, probs in zip(rows, stills, alone, strict=True):
        got = [float(row[f"p_{label}"]) for label in RAF_BASIC.labels]
        assert got == pytest.approx(probs, abs=2e-3), (path.name, got, probs)
        assert row["label"] == RAF_BASIC.labels[int(np.argmax(probs))], row
    # and the session says the instant tier read them in its still mode.
    manifest = read_manifest(folder)
    assert manifest["recognizer_mode"] == "still", manifest
    # with the version of the instant tier and where its AUs came from
    assert manifest["recognizer_version"] == INSTANT_VERSION == "4", manifest
    from cer_desktop.vision.landmarker_file import find_landmarker

    assert manifest["au_source"] == find_landmarker().au_source, manifest
