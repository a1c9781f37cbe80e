"""Classification metrics: confusion matrix, accuracy, macro-F1, per-class table, matrix PNG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= n_classes or p.max() >= n_classes):
        raise ValueError(f"class index outside 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall, F1 and support of one class."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """Everything `cer eval` prints for one label set."""

    labels: tuple[str, ...]
    confusion: np.ndarray
    accuracy: float
    macro_f1: float
    per_class: tuple[ClassScores, ...]

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": {
                c.label: {
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "support": c.support,
                }
                for c in self.per_class
            },
            "confusion": self.confusion.tolist(),
        }

    def table(self) -> str:
        """A plain-text per-class table."""
        w = max(12, *(len(lbl) for lbl in self.labels))
        lines = [f"{'label':<{w}}  precision  recall     f1  support"]
        for c in self.per_class:
            lines.append(
                f"{c.label:<{w}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}"
            )
        lines.append(f"{'accuracy':<{w}}  {self.accuracy:.4f}   (n={self.n})")
        lines.append(f"{'macro-F1':<{w}}  {self.macro_f1:.4f}")
        return "\n".join(lines)


def _div(a: float, b: float) -> float:
    # Undefined ratios (no predictions / no support) count as 0, as scikit-learn's default.
    return float(a) / float(b) if b else 0.0


def report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> ClassificationReport:
    """Accuracy, macro-F1 (unweighted mean of per-class F1) and the per-class scores.

    Macro-F1 averages over every class of the label set, including classes absent from
    `y_true` (their F1 is 0 if they were predicted, else 0 too), as the ABAW challenge does.
    """
    cm = confusion_matrix(y_true, y_pred, len(labels))
    return report_from_confusion(cm, labels)


def report_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> ClassificationReport:
    """The same scores from a confusion matrix (rows true, columns predicted)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    per = []
    for i, label in enumerate(labels):
        predicted = cm[:, i].sum()
        support = cm[i, :].sum()
        p = _div(tp[i], predicted)
        r = _div(tp[i], support)
        f1 = _div(2 * p * r, p + r)
        per.append(ClassScores(str(label), p, r, f1, int(support)))
    total = cm.sum()
    acc = _div(tp.sum(), total)
    macro = float(np.mean([c.f1 for c in per])) if per else 0.0
    return ClassificationReport(tuple(str(x) for x in labels), cm, acc, macro, tuple(per))


def save_confusion_png(rep: ClassificationReport, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, written as a PNG (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cm = rep.confusion
    n = len(rep.labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    size = max(4.0, 0.6 * n + 2.5)
    fig = Figure(figsize=(size, size * 0.9))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), rep.labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), rep.labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                colour = "white" if norm[i, j] > 0.5 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(title or f"accuracy {rep.accuracy:.3f}, macro-F1 {rep.macro_f1:.3f}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
