"""The instant tier on a labelled folder of real faces (`cer bench instant --data DIR --json`).

DIR holds one sub-folder of images per true class (``Anger/``, ``Happiness/``...) and,
optionally, ``labels.csv`` (``path,label``, paths relative to DIR), which then decides the
labels. The bench runs the app's own annotate path (`annotate.batch.annotate`: still
images, so the instant recognizer's still mode and padded detection) into a scratch folder,
keeps the largest face of each image, and reports faces found, per-class recall,
macro-recall over the true classes, and the confusion matrix (rows: true classes; columns:
the label set's labels plus "no face"), also written as a PNG. A missed face counts as wrong.

``--demo`` instead reports per class on the demo script (`instant_demo`); ``--calibrate``
prints the still-mode calibration measured on the images of the Neutral class: of the
geometry AUs for the mesh in use (``mesh``; `au_calibration`: ``STILL_*`` for the legacy
face mesh, ``LANDMARKER_*`` for the face landmarker) and, when the face landmarker is in
use, of the blendshape AUs (`au_blendshapes.STILL_PRIOR`, `STILL_SPREAD`).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.option_values import IMAGE_SUFFIXES

NO_FACE = "no face"
_PNG_NAME = "instant_confusion.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="folder of class sub-folders of images")
    parser.add_argument(
        "--demo", action="store_true", help="per-class report on the demo script instead"
    )
    parser.add_argument("--label-set", default="raf_basic", help="label set to recognise with")
    parser.add_argument("--out", default=None, help="keep the annotate sessions here")
    parser.add_argument(
        "--png",
        default=None,
        help=f"confusion-matrix PNG (default: {_PNG_NAME} in --out, else in the temp folder)",
    )
    parser.add_argument(
        "--calibrate", action="store_true", help="print the still-mode calibration instead"
    )


def labelled_images(data: Path) -> dict[Path, str]:
    """Image path (resolved) -> true label, from labels.csv or else the parent folder name."""
    if not data.is_dir():
        raise SystemExit(f"cer bench instant: {data} is not a folder")
    table = data / "labels.csv"
    out: dict[Path, str] = {}
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("path") and row.get("label"):
                    out[(data / row["path"]).resolve()] = row["label"].strip()
    else:
        for p in sorted(data.rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.parent != data:
                out[p.resolve()] = p.parent.name
    if not out:
        raise SystemExit(f"cer bench instant: no labelled images in {data}")
    return out


def predictions(sessions: Path) -> dict[Path, str]:
    """Image path -> the label the app painted on its largest face, for every session."""
    from cer_desktop.recording.csvlog import read_rows

    out: dict[Path, str] = {}
    for inputs in sorted(sessions.glob("*/inputs.csv")):
        with open(inputs, newline="", encoding="utf-8") as f:
            frames = {int(r["frame"]): Path(r["path"]).resolve() for r in csv.DictReader(f)}
        best: dict[int, tuple[int, str]] = {}
        for row in read_rows(inputs.parent):
            frame, area = int(row["frame"]), int(row["w"]) * int(row["h"])
            if frame not in best or area > best[frame][0]:
                best[frame] = (area, row["label"])
        for frame, path in frames.items():
            out[path] = best[frame][1] if frame in best else NO_FACE
    return out


def score(
    truth: dict[Path, str], predicted: dict[Path, str], labels: Sequence[str]
) -> dict[str, Any]:
    """Faces found, per-class recall, macro-recall and the confusion matrix."""
    classes = sorted(set(truth.values()))
    columns = [*labels, NO_FACE]
    cm = np.zeros((len(classes), len(columns)), dtype=np.int64)
    for path, label in truth.items():
        guess = predicted.get(path, NO_FACE)
        col = columns.index(guess) if guess in columns else len(columns) - 1
        cm[classes.index(label), col] += 1
    recall = {
        c: round(float(cm[i, columns.index(c)] / cm[i].sum()) if c in columns else 0.0, 4)
        for i, c in enumerate(classes)
    }
    found = int(cm[:, :-1].sum())
    return {
        "images": len(truth),
        "faces_found": found,
        "faces_found_fraction": round(found / len(truth), 4),
        "recall": recall,
        "macro_recall": round(float(np.mean(list(recall.values()))), 4),
        "classes": classes,
        "columns": columns,
        "confusion": cm.tolist(),
    }


def _save_png(result: dict[str, Any], path: Path) -> Path:
    from cer_desktop.training.metrics import report_from_confusion, save_confusion_png

    columns: list[str] = result["columns"]
    # Square matrix over the columns: true classes as rows where they exist.
    cm = np.zeros((len(columns), len(columns)), dtype=np.int64)
    for i, c in enumerate(result["classes"]):
        if c in columns:
            cm[columns.index(c)] = result["confusion"][i]
    rep = report_from_confusion(cm, columns)
    title = f"instant tier: macro-recall {result['macro_recall']:.3f}, faces {result['faces_found']}/{result['images']}"
    return save_confusion_png(rep, path, title=title)


def calibrate(data: Path, truth: dict[Path, str]) -> dict[str, Any]:
    """The still-mode calibration from the Neutral images (see `au_calibration`)."""
    from cer_desktop.capture.files import _read_image
    from cer_desktop.contracts import Frame
    from cer_desktop.recognition.au import AU_NAMES, face_features
    from cer_desktop.recognition.au import calibrate as calibrate_features
    from cer_desktop.recognition.au_blendshapes import blendshape_scores
    from cer_desktop.vision.analyzer import FaceAnalyzer

    t0 = datetime.now(UTC)
    neutral = [p for p, label in truth.items() if label.lower() == "neutral"]
    feats, scores = [], []
    with FaceAnalyzer(max_faces=1, static_images=True) as analyzer:
        mesh = analyzer.landmark_model
        for i, path in enumerate(neutral):
            faces = analyzer.process(Frame(i, time.monotonic(), t0, _read_image(path)))
            if faces:
                feats.append(face_features(np.asarray(faces[0].landmarks)))
                if faces[0].blendshapes:
                    scores.append(blendshape_scores(faces[0].blendshapes))
    if len(feats) < 10:
        raise SystemExit(f"cer bench instant: only {len(feats)} neutral faces found in {data}")
    prior, spread = calibrate_features(np.array(feats))
    out: dict[str, Any] = {
        "neutral_faces": len(feats),
        # the geometry prior is the mesh's own: `au_calibration`'s STILL_* for the face mesh,
        # LANDMARKER_* for the face landmarker
        "mesh": mesh,
        "still_prior": prior,
        "still_spread": spread,
    }
    if scores:
        arr = np.array(scores)
        out["blendshape_still_prior"] = dict(
            zip(AU_NAMES, np.round(np.median(arr, axis=0), 3).tolist(), strict=True)
        )
        out["blendshape_still_spread"] = dict(
            zip(AU_NAMES, np.round(arr.std(axis=0), 3).tolist(), strict=True)
        )
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cer_desktop.annotate.batch import annotate
    from cer_desktop.labels import get_label_set
    from cer_desktop.recognition.instant import INSTANT_VERSION

    if args.demo:
        from cer_desktop.bench.instant_demo import demo_report

        return {"instant_version": INSTANT_VERSION, **demo_report()}
    if not args.data:
        raise SystemExit("cer bench instant: give --data DIR (or --demo)")
    data = Path(args.data)
    truth = labelled_images(data)
    if args.calibrate:
        return calibrate(data, truth)
    label_set = get_label_set(args.label_set)
    with tempfile.TemporaryDirectory(prefix="cer-bench-instant-") as scratch:
        out = Path(args.out) if args.out else Path(scratch)
        t0 = time.perf_counter()
        summary = annotate([data], out, label_set=label_set, progress=False, force=True)
        seconds = time.perf_counter() - t0
        failed = [f"{r.item.path}: {r.message}" for r in summary.failed]
        result = score(truth, predictions(out), label_set.labels)
        png = Path(args.png) if args.png else None
        if png is None:
            png = (Path(args.out) if args.out else Path(tempfile.gettempdir())) / _PNG_NAME
        png.parent.mkdir(parents=True, exist_ok=True)
        _save_png(result, png)
    if failed:
        print("failed inputs: " + "; ".join(failed), file=sys.stderr)
    from cer_desktop.vision.landmarker_file import find_landmarker

    return {
        "instant_version": INSTANT_VERSION,
        "au_source": find_landmarker().au_source,
        "data": str(data),
        "label_set": label_set.name,
        **result,
        "failed_inputs": len(failed),
        "seconds": round(seconds, 1),
        "png": str(png),
    }
