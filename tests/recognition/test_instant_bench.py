"""`cer bench instant`: the app's annotate path over a labelled folder, scored per class."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cer_desktop.bench import instant as bench
from cer_desktop.cli import main as cer_main
from cer_desktop.recognition.instant import INSTANT_VERSION
from cer_desktop.recording.session_folder import read_manifest


def write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def data(tmp_path_factory, astronaut: np.ndarray) -> Path:
    """Happiness: the (smiling) astronaut, whole and cropped to her brows and chin;
    Neutral: a grey picture without a face (a miss)."""
    root = tmp_path_factory.mktemp("faces")
    write(root / "Happiness" / "whole.png", astronaut)
    write(root / "Happiness" / "tight.png", astronaut[86:161, 193:257])
    write(root / "Neutral" / "empty.png", np.full((120, 100, 3), 90, np.uint8))
    return root


def test_the_bench_reports_faces_recall_and_confusion_through_annotate(
    data, tmp_path, capsys
) -> None:
    # When `cer bench instant --json` runs the app's annotate path over the folder,
    out, png = tmp_path / "sessions", tmp_path / "cm.png"
    code = cer_main(
        ["bench", "instant", "--data", str(data), "--out", str(out), "--png", str(png), "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "instant"
    # then both astronaut stills are found (one only thanks to padding) and the empty one not,
    assert result["images"] == 3 and result["faces_found"] == 2, result
    assert result["classes"] == ["Happiness", "Neutral"]
    assert result["columns"][-1] == bench.NO_FACE
    cm = np.array(result["confusion"])
    assert cm.sum() == 3 and cm[1, -1] == 1, "the empty picture counts as a miss of Neutral"
    # the smiling astronaut reads as happy in the still mode, and the recall agrees with the
    # matrix,
    happy = result["columns"].index("Happiness")
    assert cm[0, happy] >= 1, result
    assert result["recall"]["Happiness"] == pytest.approx(cm[0, happy] / 2)
    assert result["recall"]["Neutral"] == 0.0
    assert result["macro_recall"] == pytest.approx(
        np.mean(list(result["recall"].values())), abs=1e-4
    )
    assert result["instant_version"] == INSTANT_VERSION
    # the confusion matrix is written as a PNG,
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # and every session says it was read by the instant tier's still mode, at this version.
    manifests = [read_manifest(m.parent) for m in out.glob("*/manifest.json")]
    assert len(manifests) == 2, "one session per class folder"
    for m in manifests:
        assert m["recognizer"] == "instant" and m["recognizer_mode"] == "still", m
        assert m["recognizer_version"] == INSTANT_VERSION


def _args(data: Path, out: Path, *extra: str):
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(["--data", str(data), "--out", str(out), *extra])


def test_labels_csv_decides_the_true_labels(tmp_path, astronaut) -> None:
    write(tmp_path / "a" / "x.png", astronaut)
    (tmp_path / "labels.csv").write_text("path,label\na/x.png,Surprise\n", encoding="utf-8")
    assert bench.labelled_images(tmp_path) == {(tmp_path / "a" / "x.png").resolve(): "Surprise"}


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_a_folder_without_labelled_images_gets_a_clear_message(tmp_path, layout) -> None:
    data = tmp_path / "nothing"
    if layout == "empty":
        data.mkdir()
    with pytest.raises(SystemExit, match="cer bench instant: .*(not a folder|no labelled images)"):
        bench.run(_args(data, tmp_path / "out"))


@pytest.mark.slow
@pytest.mark.parametrize("landmarker", ["none", "found"])
def test_the_demo_report_covers_every_demo_expression_per_class(
    landmarker: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from cer_desktop.capture.demo import DEFAULT_SCRIPT
    from cer_desktop.vision.expression_warp import BASIC_EXPRESSIONS

    if landmarker == "none":  # the legacy face mesh and its geometry AUs
        monkeypatch.setenv("CER_FACE_LANDMARKER", "none")
    else:
        request.getfixturevalue("face_landmarker_task")  # skips (fails under CI) without it
    result = bench.run(_args(Path("unused"), Path("unused"), "--demo"))
    assert result["au_source"] == ("geometry" if landmarker == "none" else "blendshapes")
    rows = result["demo"]
    expected = set(BASIC_EXPRESSIONS) | {s.expression for s in DEFAULT_SCRIPT}
    assert set(rows) == expected, sorted(rows)
    basic_ok = sum(rows[n]["correct"] for n in BASIC_EXPRESSIONS)
    assert result["demo_basic_correct"] == f"{basic_ok}/{len(BASIC_EXPRESSIONS)}"
    # the expressions the live tier is built around read as themselves on the demo face
    # (the warps move landmarks by the project's own geometry, which the geometry AUs read by
    # construction; MediaPipe's blendshapes see the warped photo: the astronaut smiles at rest
    # (mouthSmile 0.90), so the happy warp adds too little smile to register, and the sad
    # warp's lowered corners do not move mouthFrown)
    if result["au_source"] == "geometry":
        key = ("neutral", "happy", "surprise", "anger", "sad", "happily_surprised")
    else:
        key = ("neutral", "surprise", "anger", "disgust")
    for name in key:
        assert rows[name]["correct"], (name, rows[name])


@pytest.mark.parametrize("landmarker", ["none", "found"])
def test_calibrate_measures_the_neutral_faces_with_the_mesh_in_use(
    tmp_path, astronaut, landmarker: str, monkeypatch, request
) -> None:
    from cer_desktop.recognition.au import AU_NAMES, FEATURE_NAMES
    from cer_desktop.recognition.au_calibration import LANDMARKER_SPREAD, STILL_SPREAD

    if landmarker == "none":
        monkeypatch.setenv("CER_FACE_LANDMARKER", "none")
    else:
        request.getfixturevalue("face_landmarker_task")  # skips (fails under CI) without it
    for k in range(10):  # ten "people": the same face at other sizes
        side = 300 + 20 * k
        write(tmp_path / "Neutral" / f"{k}.png", cv2.resize(astronaut, (side, side)))
    write(tmp_path / "Happiness" / "x.png", astronaut)  # not used: only Neutral calibrates
    result = bench.run(_args(tmp_path, tmp_path / "out", "--calibrate"))
    assert result["neutral_faces"] == 10
    assert result["mesh"] == ("face mesh" if landmarker == "none" else "face landmarker")
    assert list(result["still_prior"]) == list(FEATURE_NAMES)
    assert list(result["still_spread"]) == list(AU_NAMES)
    # one face at ten sizes: the features are size-free, so this "population" spreads less
    # than real neutral faces do (their mean spread, au_calibration)
    real = STILL_SPREAD if landmarker == "none" else LANDMARKER_SPREAD
    mean = np.mean(list(result["still_spread"].values()))
    assert mean < 0.5 * np.mean(list(real.values())), result["still_spread"]
    assert ("blendshape_still_prior" in result) == (landmarker == "found")
