"""`cer report SESSION`: a timeline PNG of each face's label probabilities and a summary table.

The timeline has one panel per face (the longest-seen faces first, at most `max_faces`): the
probabilities of all labels stacked to 1 over session time, one fixed colour per label, gaps
where the face was not seen, markers from the event log as dashed lines. The summary gives,
per face, the share of its time with each top label ("uncertain" included), time-weighted by
frame durations so variable frame rates do not skew it; it is printed and saved as CSV and
Markdown.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.labels import UNCERTAIN
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.events import read_events
from cer_desktop.recording.session_folder import Manifest, ManifestError, SessionPaths


class ReportError(ValueError):
    """A session that cannot be reported (no manifest, no rows)."""


@dataclass
class FaceSeries:
    """One face's rows: times, the label of each row and the probabilities (NaN = unknown)."""

    face_id: str
    t: np.ndarray
    labels: list[str]
    probs: np.ndarray  # (n_rows, n_labels)
    durations: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def seconds(self) -> float:
        return float(self.durations.sum())


@dataclass
class SessionReport:
    """What `make_report` wrote and the table it printed."""

    png: Path
    csv: Path
    markdown: Path
    table: str


def load_series(folder: str | os.PathLike[str]) -> tuple[list[str], list[FaceSeries]]:
    """All labels (in first-seen order across CSV parts) and one series per face id."""
    label_order: list[str] = []
    per_face: dict[str, list[dict[str, str]]] = {}
    for row in read_rows(folder):
        for key in row:
            if key.startswith("p_") and key[2:] not in label_order:
                label_order.append(key[2:])
        per_face.setdefault(row["face_id"], []).append(row)
    series: list[FaceSeries] = []
    for face_id, rows in per_face.items():
        t = np.array([float(r["t"]) for r in rows])
        probs = np.full((len(rows), len(label_order)), np.nan)
        for i, r in enumerate(rows):
            for j, lab in enumerate(label_order):
                v = r.get(f"p_{lab}")
                if v:
                    probs[i, j] = float(v)
        s = FaceSeries(face_id, t, [r.get("label") or "" for r in rows], probs)
        s.durations = _durations(t)
        series.append(s)
    series.sort(key=lambda s: -s.seconds)
    return label_order, series


def _frame_step(t: np.ndarray) -> float:
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1 / 30


def _durations(t: np.ndarray) -> np.ndarray:
    """How long each row stands for: until the face's next row, capped at two frame steps
    (a face that vanished for a while does not get credit for the gap)."""
    if t.size == 0:
        return t
    step = _frame_step(t)
    d = np.append(np.diff(t), step)
    return np.clip(d, 0.0, 2 * step)


def summary_rows(label_order: list[str], series: list[FaceSeries]) -> list[dict[str, str]]:
    """Per face: seconds seen, rows, then the share (%) of its time per top label."""
    columns = [*label_order, UNCERTAIN]
    out = []
    for s in series:
        total = s.seconds or 1.0
        shares = {c: 0.0 for c in columns}
        for lab, d in zip(s.labels, s.durations, strict=True):
            key = lab if lab in shares else (UNCERTAIN if lab in ("", UNCERTAIN) else lab)
            shares[key] = shares.get(key, 0.0) + float(d)
        row = {"face_id": s.face_id, "seconds": f"{s.seconds:.1f}", "rows": str(len(s.t))}
        row.update({c: f"{100 * v / total:.1f}" for c, v in shares.items()})
        out.append(row)
    return out


def _markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no faces)"
    # Leave out labels that never won, so the table stays narrow enough to read.
    keys = list(rows[0].keys())
    fixed, labels = keys[:3], keys[3:]
    labels = [k for k in labels if any(float(r[k]) > 0 for r in rows)]
    header = ["face", "seconds", "rows", *(f"{k} %" for k in labels)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([r[k] for k in fixed] + [r[k] for k in labels]) + " |")
    return "\n".join(lines)


def _segments(t: np.ndarray, gap: float) -> list[slice]:
    """Index ranges of `t` without gaps longer than `gap`."""
    if t.size == 0:
        return []
    breaks = np.nonzero(np.diff(t) > gap)[0] + 1
    edges = [0, *breaks.tolist(), t.size]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _label_runs(ax: Any, s: FaceSeries, min_len: float) -> None:
    """Write the top label on every stretch where it held long enough to read."""
    if not s.labels:
        return
    start = 0
    for i in range(1, len(s.labels) + 1):
        if i == len(s.labels) or s.labels[i] != s.labels[start] or s.t[i] - s.t[i - 1] > 1.0:
            t0, t1 = s.t[start], s.t[i - 1]
            if s.labels[start] and t1 - t0 >= min_len:
                ax.text(
                    (t0 + t1) / 2,
                    0.5,
                    s.labels[start],
                    ha="center",
                    va="center",
                    fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0},
                )
            start = i


def plot_timeline(
    path: Path,
    label_order: list[str],
    series: list[FaceSeries],
    *,
    title: str = "",
    markers: list[tuple[float, str]] = (),  # type: ignore[assignment]
    max_faces: int = 6,
) -> None:
    """Draw the stacked-probability timeline PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = series[:max_faces]
    cmap = plt.get_cmap("tab20" if len(label_order) > 10 else "tab10")
    colours = [cmap(i % cmap.N) for i in range(len(label_order))]
    t_max = max((float(s.t.max()) for s in shown if s.t.size), default=1.0)
    fig_h = 1.2 + 2.0 * max(1, len(shown))
    fig, axes = plt.subplots(max(1, len(shown)), 1, figsize=(12, fig_h), sharex=True, squeeze=False)
    for ax, s in zip(axes[:, 0], shown, strict=False):
        step = _frame_step(s.t)
        for seg in _segments(s.t, gap=max(0.5, 3 * step)):
            t = s.t[seg]
            p = np.nan_to_num(s.probs[seg], nan=0.0)
            if t.size == 1:  # a lone row still shows as one frame wide
                t = np.array([t[0], t[0] + step])
                p = np.vstack([p, p])
            ax.stackplot(t, p.T, colors=colours, linewidth=0)
        _label_runs(ax, s, min_len=max(1.0, 0.06 * t_max))
        ax.set_ylim(0, 1)
        ax.set_xlim(0, max(t_max, 1e-3))
        ax.set_ylabel(f"face {s.face_id}\nprobability")
        ax.grid(axis="x", alpha=0.3)
        for t_m, note in markers:
            ax.axvline(t_m, color="black", linestyle="--", linewidth=1)
            if ax is axes[0, 0] and note:
                ax.text(t_m, 1.02, note, fontsize=8, rotation=0, ha="left", va="bottom")
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no faces recorded", ha="center", va="center")
    axes[-1, 0].set_xlabel("session time (s)")
    # Listed top to bottom in the order the bands stack, so the legend reads like the plot.
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours][::-1]
    fig.legend(handles, label_order[::-1], loc="center right", fontsize=9, frameon=False)
    more = (
        f"  ({len(series) - len(shown)} more faces in the table)"
        if len(series) > len(shown)
        else ""
    )
    fig.suptitle((title or "label probabilities over time") + more, fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.84, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_report(
    session: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    max_faces: int = 6,
) -> SessionReport:
    """Write `timeline.png`, `summary.csv` and `summary.md` for a session folder.

    `out_dir` defaults to `SESSION/report`. Raises `ReportError` for a folder that is not a
    session.
    """
    folder = Path(session)
    try:
        manifest = Manifest.read(folder)
    except ManifestError as exc:
        raise ReportError(str(exc)) from exc
    out = Path(out_dir) if out_dir is not None else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    label_order, series = load_series(folder)
    markers = [
        (float(e["t"]), str(e.get("note") or ""))
        for e in read_events(SessionPaths(folder).events)
        if e.get("type") == "marker" and e.get("t") is not None
    ]
    title = f"{folder.name}: {manifest.recognizer or ', '.join(manifest.recognizers_seen)}"
    title += f" over {', '.join(manifest.label_sets) or manifest.label_set or ''}"
    png = out / "timeline.png"
    plot_timeline(png, label_order, series, title=title, markers=markers, max_faces=max_faces)
    rows = summary_rows(label_order, series)
    csv_path = out / "summary.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        fields = list(rows[0].keys()) if rows else ["face_id", "seconds", "rows"]
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    table = _markdown(rows)
    md = out / "summary.md"
    md.write_text(
        f"# {folder.name}\n\nShare of each face's time per top label (%).\n\n{table}\n",
        encoding="utf-8",
    )
    return SessionReport(png, csv_path, md, table)
