"""Past sessions in a record folder, as the sessions browser lists them: date, duration,
label set, status; their report; recovering interrupted ones (`recording.recover` is the one
function that repairs a session; this is how the window reaches it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cer_desktop.recording.session_folder import Manifest

log = logging.getLogger(__name__)
UNREADABLE = "unreadable"  # the status shown for a session whose manifest cannot be read


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
    from cer_desktop.recording.recover import is_unfinished
    from cer_desktop.recording.session_folder import Manifest, ManifestError, SessionPaths

    base = Path(root)
    if not base.is_dir():
        return []
    found = []
    for folder in sorted((p for p in base.iterdir() if p.is_dir()), reverse=True):
        paths = SessionPaths(folder)
        try:
            m: Manifest | None = Manifest.read(folder)
        except ManifestError:
            if not paths.first_csv.exists():
                continue  # not a session
            m = None
        sets = [] if m is None else (m.label_sets or ([m.label_set] if m.label_set else []))
        found.append(
            SessionInfo(
                folder=folder,
                started_at=str(m.started_at or "") if m is not None else "",
                duration_s=None if m is None or m.duration_s is None else float(m.duration_s),
                label_set=", ".join(str(s) for s in sets),
                status=m.status.value if m is not None else UNREADABLE,
                frames=m.frames_written if m is not None else 0,
                recognizer=str(m.recognizer or "") if m is not None else "",
                # never waits: a session another host still leases is not "interrupted"
                interrupted=_unfinished(is_unfinished, folder),
                has_video=paths.annotated_video.exists(),
            )
        )
    return sorted(found, key=lambda s: s.started_at, reverse=True)


def _unfinished(probe: object, folder: Path) -> bool:
    try:
        return bool(probe(folder, lease_wait_s=0))  # type: ignore[operator]
    except Exception:
        return False


def read_session(folder: str | Path) -> tuple[Manifest, list[dict[str, str]], int]:
    """A session folder as written: its `Manifest`, its CSV rows, and how many frames its
    annotated video decodes to (0 without a video). Raises `ManifestError` without a
    manifest."""
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.session_folder import Manifest, SessionPaths  # noqa: F811
    from cer_desktop.recording.video import count_frames

    paths = SessionPaths(Path(folder))
    manifest = Manifest.read(paths.folder)
    video = paths.annotated_video
    return manifest, list(read_rows(paths.folder)), count_frames(video) if video.exists() else 0


def make_session_report(folder: str | Path) -> Path:
    """Write the session's report (`cer report`) and return its timeline image."""
    from cer_desktop.recording.report import make_report

    return Path(make_report(folder).png)


def recover(folder: str | Path) -> str:
    """Repair an interrupted session; a sentence saying what was kept."""
    from cer_desktop.recording.recover import recover_session

    report = recover_session(folder)
    return f"Recovered {report.frames_kept} frames of {Path(folder).name}"


def recover_unfinished(
    root: str | Path,
    say: Callable[[str], None],
    cancel: threading.Event | None = None,
    *,
    lease_wait_s: float | None = None,
) -> int:
    """Repair the sessions a crash left unfinished under `root` (blocking: seconds per long
    session, and a few seconds more only when another host holds a session's lease). Each
    result, and each session left alone because it is still being recorded, is told through
    `say`; returns how many were recovered. A set `cancel` (the app is quitting) ends the
    wait for leases and recovers nothing more."""
    from cer_desktop.recording.recover import recover_session, scan_unfinished

    try:
        folders, live = scan_unfinished(root, lease_wait_s=lease_wait_s, cancel=cancel)
    except OSError as exc:
        say(f"Could not look for unfinished sessions in {root}: {exc}")
        return 0
    for folder, why in live:
        say(f"Left the session {folder} alone: {why}")
    recovered = 0
    for folder in folders:
        if cancel is not None and cancel.is_set():
            break
        say(f"Recovering the unfinished session {folder}…")
        try:
            report = recover_session(folder, lease_wait_s=0)  # its lease was just watched
        except Exception as exc:  # one broken session must not stop the app
            log.warning("could not recover %s", folder, exc_info=True)
            say(f"Could not recover {folder}: {exc}")
        else:
            recovered += 1
            say(report.event().message)  # says what moved aside (.orig) and why
    return recovered


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
    from cer_desktop.recording.session_folder import SessionPaths

    source = VideoFileSource(SessionPaths(Path(folder)).annotated_video)
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
