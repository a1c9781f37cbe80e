"""`cer bench faults`, part 1: recordings killed with SIGKILL at seeded moments, then recovered.

Each kill runs `fault_child` (the real live pipeline recording annotated + raw video + CSV)
and kills it at a seeded random moment of one of three phases: while it starts (the session
folder may not exist yet), while it records, or while it stops and finalises. Then, on what
the killed process left:
- the CSV's whole rows and the annotated video's decodable frames are noted;
- `recover_session` repairs the session (a second, forced recovery must change nothing);
- `rows_lost` counts CSV rows that were on disk before recovery, whose frame decodes in the
  annotated video, and that are gone after it (must be 0);
- `unplayable` counts sessions whose videos do not decode exactly the frames the recovered
  manifest claims;
- frames lost at the kill = frames handed to the recorder minus frames kept (bounded by the
  flush interval plus the queue; the worst case is reported).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.recording.session_folder import Manifest, SessionPaths, SessionStatus

PHASES = ("start", "record", "record", "record", "stop")


def _csv_keys(folder: Path) -> set[tuple[str, int, str]]:
    """(part, frame, face_id) of every whole CSV row on disk (a cut-off last line ignored)."""
    keys: set[tuple[str, int, str]] = set()
    for part in SessionPaths(folder).csv_parts():
        data = part.read_bytes()
        data = data[: data.rfind(b"\n") + 1]
        rows = list(csv.reader(data.decode("utf-8", "replace").splitlines()))
        if not rows:
            continue
        header = rows[0]
        if "frame" not in header:
            continue
        fi, ki = header.index("frame"), header.index("face_id")
        for row in rows[1:]:
            if len(row) == len(header) and row[fi].isdigit():
                keys.add((part.name, int(row[fi]), row[ki]))
    return keys


def _frames(path: Path) -> int | None:
    from cer_desktop.recording.video import VideoError, count_frames

    if not path.exists():
        return None
    try:
        return count_frames(path)
    except VideoError:
        return None


def _wait_line(proc: subprocess.Popen[str], want: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        if line.strip() == want:
            return True
    return False


def _kill_one(
    root: Path, i: int, rng: np.random.Generator, size: tuple[int, int]
) -> dict[str, Any]:
    folder, progress = root / f"kill-{i:02d}", root / f"kill-{i:02d}.progress"
    phase = PHASES[i % len(PHASES)]
    seconds = float(rng.uniform(1.0, 3.0)) if phase == "stop" else 30.0
    cmd = [sys.executable, "-m", "cer_desktop.bench.fault_child", str(folder), str(progress)]
    proc = subprocess.Popen(
        [*cmd, f"{seconds:.3f}", str(size[0]), str(size[1])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    from cer_desktop.bench.fault_child import read_progress

    try:
        if phase == "start":
            time.sleep(float(rng.uniform(0.05, 4.0)))
        elif phase == "record":
            deadline = time.monotonic() + 60
            while read_progress(progress) < 1 and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0.0, 3.0)))
        else:
            _wait_line(proc, "STOPPING", 90)
            time.sleep(float(rng.uniform(0.0, 0.25)))
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    out: dict[str, Any] = {"phase": phase, "killed": alive, "returncode": proc.returncode}
    if not alive:  # it never waits to be killed by itself: it died
        out["crash"] = f"recording child {i} died by itself (exit {proc.returncode})"
    out["submitted"] = read_progress(progress)
    paths = SessionPaths(folder)
    if not paths.is_session():
        out["before_session"] = True
        return out
    from cer_desktop.recording.recover import recover_session

    before = _csv_keys(folder)
    decodable = _frames(paths.annotated_video) or 0
    out["status_killed"] = Manifest.read(folder).status.value
    try:
        report = recover_session(folder)
    except Exception as exc:  # noqa: BLE001 - counted as a crash of recovery
        out["crash"] = f"recover_session: {type(exc).__name__}: {exc}"
        return out
    m = Manifest.read(folder)
    kept = m.frames_written
    out.update(status=m.status.value, frames_kept=kept, recovery_needed=report.needed)
    after = _csv_keys(folder)
    out["rows_lost"] = len({k for k in before if k[1] < decodable} - after)
    video, raw = _frames(paths.annotated_video), _frames(paths.raw_video)
    out["playable"] = kept == 0 or (video == kept and raw == kept)
    out["lost_at_kill"] = max(0, out["submitted"] - kept)
    snapshot = {p.name: p.stat().st_size for p in folder.iterdir() if p != paths.manifest}
    again = recover_session(folder, force=True)
    resnap = {p.name: p.stat().st_size for p in folder.iterdir() if p != paths.manifest}
    out["idempotent"] = again.frames_kept == kept and snapshot == resnap
    return out


def run_kills(root: Path, kills: int, seed: int, size: tuple[int, int]) -> dict[str, Any]:
    """Kill `kills` recordings; the counts `cer bench faults` reports for them."""
    rng = np.random.default_rng(seed)
    runs = [_kill_one(root, i, rng, size) for i in range(kills)]
    sessions = [r for r in runs if not r.get("before_session")]
    done = [r for r in sessions if "crash" not in r]
    lost = [r["lost_at_kill"] for r in done if r.get("killed")]
    return {
        "kills": sum(bool(r["killed"]) for r in runs),
        "kills_before_session": len(runs) - len(sessions),
        "kills_by_phase": {p: sum(r["phase"] == p for r in runs) for p in sorted(set(PHASES))},
        "sessions": len(sessions),
        "recovered": sum(
            r.get("status") in (SessionStatus.RECOVERED, SessionStatus.COMPLETE) for r in done
        ),
        "unplayable": sum(not r["playable"] for r in done),
        "rows_lost": sum(r["rows_lost"] for r in done),
        "recovery_not_idempotent": sum(not r["idempotent"] for r in done),
        "frames_lost_at_kill_max": max(lost, default=0),
        "frames_lost_at_kill_mean": round(float(np.mean(lost)), 2) if lost else 0.0,
        "kill_crashes": [r["crash"] for r in runs if "crash" in r],
    }
