"""`cer report S1 S2 ... -o OUT`: one merged summary over many sessions (e.g. every shard's).

Arguments may be session folders or folders holding sessions (an annotate output folder).
Per session: faces, seconds, rows and the share of face time per top label (time-weighted
as in the single-session report); a final `ALL` row pools the time of every session. A
folder that is not a session is listed as failed, the others are still summarised.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cer_desktop.labels import UNCERTAIN
from cer_desktop.recording.report import load_series
from cer_desktop.recording.session_folder import SessionPaths

ALL = "ALL"


@dataclass
class MergedReport:
    csv: Path
    markdown: Path
    table: str
    sessions: int
    failed: list[str] = field(default_factory=list)


def find_sessions(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """Session folders named or found one level inside the named folders; and what failed."""
    sessions: list[Path] = []
    failed: list[str] = []
    for name in paths:
        p = Path(name)
        if SessionPaths(p).is_session():
            sessions.append(p)
            continue
        inner = sorted(q for q in p.iterdir() if SessionPaths(q).is_session()) if p.is_dir() else []
        if inner:
            sessions += inner
        else:
            failed.append(f"{p}: not a session folder, nor a folder of sessions")
    return sessions, failed


def _label_seconds(folder: Path) -> tuple[list[str], dict[str, float], int, int]:
    """Labels, seconds per top label over all faces, faces, rows."""
    labels, series = load_series(folder)
    seconds: dict[str, float] = {}
    rows = 0
    for s in series:
        rows += len(s.t)
        for lab, d in zip(s.labels, s.durations, strict=True):
            key = lab if lab else UNCERTAIN
            seconds[key] = seconds.get(key, 0.0) + float(d)
    return labels, seconds, len(series), rows


def merge_reports(
    paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
) -> MergedReport:
    """Write `merged_summary.csv` and `merged_summary.md` under `out_dir`."""
    sessions, failed = find_sessions(paths)
    order: list[str] = []
    table: list[tuple[str, dict[str, float], int, int]] = []
    pooled: dict[str, float] = {}
    faces_all = rows_all = 0
    for folder in sessions:
        try:
            labels, seconds, faces, rows = _label_seconds(folder)
        except Exception as exc:  # noqa: BLE001 - one broken session must not stop the rest
            failed.append(f"{folder}: {type(exc).__name__}: {exc}")
            continue
        order += [lab for lab in [*labels, *seconds] if lab not in order]
        table.append((folder.name, seconds, faces, rows))
        for k, v in seconds.items():
            pooled[k] = pooled.get(k, 0.0) + v
        faces_all += faces
        rows_all += rows
    if UNCERTAIN in order:
        order = [lab for lab in order if lab != UNCERTAIN] + [UNCERTAIN]
    table.append((ALL, pooled, faces_all, rows_all))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for name, seconds, faces, rows in table:
        total = sum(seconds.values()) or 1.0
        rec = {"session": name, "faces": str(faces), "rows": str(rows)}
        rec["seconds"] = f"{sum(seconds.values()):.1f}"
        rec.update({lab: f"{100 * seconds.get(lab, 0.0) / total:.1f}" for lab in order})
        records.append(rec)
    csv_path = out / "merged_summary.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0].keys()))
        w.writeheader()
        w.writerows(records)
    shown = [lab for lab in order if any(float(r[lab]) > 0 for r in records)]
    header = ["session", "faces", "rows", "seconds", *(f"{lab} %" for lab in shown)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        cells = [r["session"], r["faces"], r["rows"], r["seconds"], *(r[lab] for lab in shown)]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    md = out / "merged_summary.md"
    md.write_text(
        f"# {len(table) - 1} sessions\n\nShare of face time per top label (%).\n\n{text}\n",
        encoding="utf-8",
    )
    return MergedReport(csv_path, md, text, len(table) - 1, failed)
