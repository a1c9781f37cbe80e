"""Past sessions in a record folder, as the sessions browser lists them: date, duration,
label set, status; their report; recovering an interrupted one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session folder, read from its manifest."""

    folder: Path
    started_at: str  # ISO 8601 UTC, "" when unknown
    duration_s: float | None
    label_set: str
    status: str  # "complete", "recording", "failed", "recovered", or "unreadable"
    frames: int
    recognizer: str
    interrupted: bool  # a crash left it unfinished: recover it
    has_video: bool


def list_sessions(root: str | Path) -> list[SessionInfo]:
    """Every session folder directly under `root`, newest first (unreadable ones included,
    status "unreadable", so the user sees them)."""
    from cer_desktop.recording.manifest import ManifestError, read_manifest
    from cer_desktop.recording.recover import is_unfinished

    base = Path(root)
    if not base.is_dir():
        return []
    found = []
    for folder in sorted((p for p in base.iterdir() if p.is_dir()), reverse=True):
        try:
            m = read_manifest(folder)
        except ManifestError:
            if not (folder / "frames.csv").exists():
                continue  # not a session
            m = {"status": "unreadable"}
        sets = m.get("label_sets") or ([m["label_set"]] if m.get("label_set") else [])
        duration = m.get("duration_s")
        found.append(
            SessionInfo(
                folder=folder,
                started_at=str(m.get("started_at") or ""),
                duration_s=float(duration) if isinstance(duration, int | float) else None,
                label_set=", ".join(str(s) for s in sets),
                status=str(m.get("status") or "unknown"),
                frames=int(m.get("frames_written") or 0),
                recognizer=str(m.get("recognizer") or ""),
                # never waits: a session another host still leases is not "interrupted"
                interrupted=_unfinished(is_unfinished, folder),
                has_video=(folder / "annotated.mp4").exists(),
            )
        )
    return sorted(found, key=lambda s: s.started_at, reverse=True)


def _unfinished(probe: object, folder: Path) -> bool:
    try:
        return bool(probe(folder, lease_wait_s=0))  # type: ignore[operator]
    except Exception:
        return False


def read_session(folder: str | Path) -> tuple[dict[str, Any], list[dict[str, str]], int]:
    """A session folder as written: its manifest, its CSV rows, and how many frames its
    annotated video decodes to (0 without a video). Raises `ManifestError` without a
    manifest."""
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.manifest import read_manifest
    from cer_desktop.recording.video import count_frames

    base = Path(folder)
    manifest = read_manifest(base)
    video = base / "annotated.mp4"
    return manifest, list(read_rows(base)), count_frames(video) if video.exists() else 0


def make_session_report(folder: str | Path) -> Path:
    """Write the session's report (`cer report`) and return its timeline image."""
    from cer_desktop.recording.report import make_report

    return Path(make_report(folder).png)


def recover(folder: str | Path) -> str:
    """Repair an interrupted session; a sentence saying what was kept."""
    from cer_desktop.recording.recover import recover_session

    report = recover_session(folder)
    return f"Recovered {report.frames_kept} frames of {Path(folder).name}"


def load_timeline(folder: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The longest-seen face's label probabilities over the session: (labels, t (n,),
    probs (n, labels)) from frames.csv; empty arrays for a session without faces."""
    from cer_desktop.recording.report import load_series

    labels, series = load_series(folder)
    if not series:
        return labels, np.zeros(0), np.zeros((0, len(labels)))
    return labels, series[0].t, series[0].probs


def play_video(
    folder: str | Path,
    on_frame: Callable[[np.ndarray, float], None],
    stop: threading.Event,
) -> None:
    """Play the session's annotated video at its own rate: `on_frame(rgb, t_seconds)` per
    frame until the end or `stop` (blocking: run it on a thread of its own)."""
    from cer_desktop.capture.files import VideoFileSource

    source = VideoFileSource(Path(folder) / "annotated.mp4")
    source.open()
    try:
        fps = float(source.fps or 30.0)
        t0 = time.monotonic()
        n = 0
        while not stop.is_set():
            frame = source.read()
            if frame is None:
                return
            delay = t0 + n / fps - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            on_frame(np.asarray(frame.image), n / fps)
            n += 1
    finally:
        source.close()
