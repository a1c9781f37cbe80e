"""`cer eval`: score a base model or an adapter on a labelled data set, as the app would.

Predictions go through the app's own code: the model and adapter are loaded by
`recognition.lvlm.loading` and scored by `ClosedSetScorer` with the adapter's prompt, pixel
limits and crop size from its `cer_adapter.json` (the same choices `LVLMRecognizer` makes), so
the figures are those of live use. Inputs can be the data set's originals, RAF-DB's own
aligned crops, or originals through the app's aligner, to compare them.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.labels import C_EXPR, LabelSet
from cer_desktop.training.datasets import ImagePreparer, LabeledImages, Sample
from cer_desktop.training.metrics import ClassificationReport, report, save_confusion_png

log = logging.getLogger(__name__)

# inputs -> (RAF-DB image variant, aligner)
INPUTS = {
    "original": ("original", "none"),
    "aligned": ("aligned", "none"),
    "app": ("original", "app"),
}


@dataclass
class LoadedModel:
    """A model ready to score, with the choices the app would make for it."""

    model: Any
    processor: Any
    metadata: Any  # AdapterMetadata | None
    crop_size: int
    limits: Any  # ImageLimits
    base: str
    adapter: str | None

    def prompt_template(self, label_set: LabelSet) -> Any:
        """The adapter's prompt (rendered with whatever labels are scored), as the app does;
        without an adapter, the prompt written for the label set."""
        from cer_desktop.recognition.lvlm.prompts import prompt_for

        return self.metadata.to_prompt() if self.metadata else prompt_for(label_set)

    def scorer(self, label_set: LabelSet) -> Any:
        from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

        return ClosedSetScorer(
            self.model, self.processor, self.prompt_template(label_set), self.limits
        )


def load_model(
    base: str,
    adapter: str | None = None,
    *,
    quant: str = "none",
    dtype: str = "auto",
    device: str = "auto",
    local_files_only: bool = True,
) -> LoadedModel:
    """Base model (+ adapter) loaded exactly as the app's recognizer loads it (adapter folder
    resolved locally or from the cache, metadata read before the base), with the crop size and
    image limits the adapter's metadata sets."""
    from cer_desktop.extras import require_extra

    require_extra("train", "evaluating a model", ["bitsandbytes"] if quant != "none" else [])
    from cer_desktop.recognition.lvlm.recognizer import LVLMRecognizer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    spec = ModelSpec(
        base=base,
        adapter=adapter,
        quant=quant,
        dtype=dtype,
        device=device,
        local_files_only=local_files_only,
    )
    rec = LVLMRecognizer(spec, warmup=False)
    return LoadedModel(
        rec.model, rec.processor, rec.metadata, rec.crop_size, rec.limits, base, adapter
    )


@dataclass
class EvalResult:
    """Predictions and scores of one evaluation."""

    label_set: LabelSet
    samples: list[Sample]
    probs: np.ndarray  # n x labels
    report: ClassificationReport | None  # None when the data has no labels
    inputs: str = ""
    seconds: float = 0.0
    no_face: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1) if len(self.probs) else np.zeros(0, dtype=int)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "label_set": self.label_set.name,
            "inputs": self.inputs,
            "n": len(self.samples),
            "seconds": round(self.seconds, 2),
            "no_face": self.no_face,
        }
        if self.report is not None:
            d.update(self.report.as_dict())
        return {**d, **self.extra}


def predict_probs(
    loaded: LoadedModel,
    images: Sequence[np.ndarray],
    label_set: LabelSet,
    *,
    batch_size: int = 8,
) -> np.ndarray:
    """Probabilities for in-memory crops (already prepared)."""
    scorer = loaded.scorer(label_set)
    out = np.zeros((len(images), len(label_set)), dtype=np.float64)
    for i in range(0, len(images), batch_size):
        out[i : i + batch_size] = scorer.score(list(images[i : i + batch_size]), label_set)
    return out


def evaluate(
    loaded: LoadedModel,
    data: LabeledImages,
    preparer: ImagePreparer,
    *,
    label_set: LabelSet | None = None,
    batch_size: int = 8,
    inputs: str = "",
    progress: bool = False,
) -> EvalResult:
    """Score every image of `data` over `label_set` (default: the data's own labels).

    Scoring a data set over a different label set is allowed when its labels are all in it
    (e.g. a compound model on C-EXPR-DB over its 7 labels only): true labels are mapped by
    name.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    ls = label_set or data.label_set
    truth_map = None
    if any(s.label >= 0 for s in data.samples):
        truth_map = (
            [ls.index(lab) for lab in data.label_set.labels] if ls != data.label_set else None
        )
    scorer = loaded.scorer(ls)
    probs = np.zeros((len(data.samples), len(ls)), dtype=np.float64)
    n_before = len(preparer.no_face)
    for i in tqdm(range(0, len(data.samples), batch_size), disable=not progress, desc="scoring"):
        chunk = data.samples[i : i + batch_size]
        crops = [preparer(s.path) for s in chunk]
        probs[i : i + len(chunk)] = scorer.score(crops, ls)
    rep = None
    if all(s.label >= 0 for s in data.samples):
        truth = [s.label if truth_map is None else truth_map[s.label] for s in data.samples]
        rep = report(truth, probs.argmax(axis=1).tolist(), ls.labels)
    return EvalResult(
        ls,
        list(data.samples),
        probs,
        rep,
        inputs=inputs,
        seconds=time.perf_counter() - t0,
        no_face=len(preparer.no_face) - n_before,
    )


def write_abaw(result: EvalResult, path: str | Path) -> Path:
    """The ABAW compound-expression prediction file: ``image_location,<7 names>`` and one
    class index (0..6, C-EXPR-DB order) per ``video/frame.jpg`` row."""
    if result.label_set.labels != C_EXPR.labels:
        raise ValueError(
            f"an ABAW file needs predictions over the C-EXPR-DB labels, not {result.label_set.name}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image_location", *(lab.replace(" ", "_") for lab in C_EXPR.labels)])
        for s, pred in zip(result.samples, result.predictions, strict=True):
            w.writerow([s.key or s.path.name, int(pred)])
    return path


def write_outputs(result: EvalResult, out_dir: str | Path, *, title: str = "") -> dict[str, Path]:
    """metrics.json, report.txt, confusion.png (when labelled) and predictions.csv."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    (out / "metrics.json").write_text(
        json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8"
    )
    files["metrics"] = out / "metrics.json"
    if result.report is not None:
        (out / "report.txt").write_text(result.report.table() + "\n", encoding="utf-8")
        files["report"] = out / "report.txt"
        files["confusion"] = save_confusion_png(result.report, out / "confusion.png", title)
    with (out / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "true", "predicted", *(f"p_{lab}" for lab in result.label_set.labels)])
        for s, p in zip(result.samples, result.probs, strict=True):
            true = result.label_set.labels[s.label] if 0 <= s.label < len(result.label_set) else ""
            w.writerow(
                [
                    s.key or str(s.path),
                    true,
                    result.label_set.labels[int(p.argmax())],
                    *(f"{x:.5f}" for x in p),
                ]
            )
    files["predictions"] = out / "predictions.csv"
    return files


def read_frames(root: str | Path, label_set: LabelSet = C_EXPR) -> LabeledImages:
    """Unlabelled frames (e.g. the ABAW test set): every image under root, key = relative path."""
    from cer_desktop.option_values import IMAGE_SUFFIXES
    from cer_desktop.training.datasets import DatasetError

    root = Path(root)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DatasetError([f"{root}: no images"], "frames")
    samples = [Sample(p, -1, p.relative_to(root).as_posix(), str(p)) for p in paths]
    return LabeledImages(samples, label_set, root, f"frames {root.name}")
