"""A recording killed with SIGKILL stays readable up to its last flush and is repaired by recovery."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cer_desktop.recording.csvlog import list_parts, read_rows
from cer_desktop.recording.recover import find_unfinished, recover_session
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames

CHILD = Path(__file__).parent / "kill_child.py"


@pytest.fixture(scope="module")
def killed_session(tmp_path_factory):
    """A session whose recorder was killed with SIGKILL after >= 45 frames were flushed."""
    root = tmp_path_factory.mktemp("crash")
    folder = root / "killed"
    proc = subprocess.Popen([sys.executable, str(CHILD), str(folder)])
    try:
        deadline = time.monotonic() + 60
        flushed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                flushed = json.loads((folder / "manifest.json").read_text())["frames_written"]
            except (OSError, ValueError, KeyError):
                pass
            if flushed >= 45:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the recording child died on its own"
        assert flushed >= 45, "the child never flushed 45 frames"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # What the killed process left, before any repair.
    manifest = read_manifest(folder)
    state = {
        "manifest": manifest,
        "video": count_frames(folder / "annotated.mp4"),
        "raw": count_frames(folder / "raw.mp4"),
        "csv_raw_bytes": (folder / "frames.csv").read_bytes(),
    }
    return root, folder, state


def test_killed_recording_holds_every_flushed_frame(killed_session):
    _, folder, state = killed_session
    m = state["manifest"]
    assert m["status"] == "recording", "the killed process could not finalise"
    flushed = m["frames_written"]
    # then the videos play and hold at least the frames the last flush reported
    assert state["video"] >= m["video_frames_durable"] == flushed - 1, (state["video"], flushed)
    assert state["raw"] >= flushed - 1
    # and the CSV ends at a whole row and covers every flushed frame (2 faces each)
    data = state["csv_raw_bytes"]
    assert data.endswith(b"\n"), "the CSV ends in a half row"
    rows = list(csv.DictReader(data.decode().splitlines()))
    assert len(rows) >= 2 * flushed
    assert len(rows) % 2 == 0, "rows of a frame are written together"


def test_unfinished_session_is_found(killed_session):
    root, folder, _ = killed_session
    assert folder in find_unfinished(root)


def test_recovery_makes_video_and_csv_agree(killed_session):
    root, folder, state = killed_session
    report = recover_session(folder)
    assert report.needed
    video = count_frames(folder / "annotated.mp4")
    raw = count_frames(folder / "raw.mp4")
    rows = list(read_rows(folder))
    frames_in_csv = {int(r["frame"]) for r in rows}
    # the same frames everywhere: 0..video-1, every one with its 2 rows
    assert video == raw == report.frames_kept
    assert video >= state["manifest"]["frames_written"] - 1
    assert frames_in_csv == set(range(video)), "CSV frames != video frames after recovery"
    assert len(rows) == 2 * video
    m = read_manifest(folder)
    assert m["status"] == "recovered" and m["frames_written"] == video
    assert [p.name for p in list_parts(folder)] == ["frames.csv"]
    # and a recovered session is not unfinished any more; recovering again changes nothing
    assert folder not in find_unfinished(root)
    assert not recover_session(folder).needed


def test_cut_off_csv_row_and_longer_video_are_repaired(tmp_path):
    # given a crashed session whose CSV ends in half a row and lags the video
    from rec_synthetic import record

    from cer_desktop.recording.recorder import SessionRecorder

    folder = tmp_path / "s"
    rec = SessionRecorder(folder, block=True)
    record(rec, 50)
    rec.close()
    m = read_manifest(folder)
    m.update(status="recording", frames_written=0, pid=2**22 + 12345)
    (folder / "manifest.json").write_text(json.dumps(m))
    lines = (folder / "frames.csv").read_text().splitlines(keepends=True)
    # keep header + 30 frames (60 rows) + half of the next row
    (folder / "frames.csv").write_text("".join(lines[:61]) + lines[61][:20])
    # when it is recovered
    report = recover_session(folder)
    # then the half row is gone and the video is cut to the 30 frames the CSV covers
    assert report.partial_rows_removed >= 1
    assert report.frames_kept == 30
    assert count_frames(folder / "annotated.mp4") == 30
    assert len(list(read_rows(folder))) == 60


def test_cer_recover_repairs_every_unfinished_session_of_a_record_folder(tmp_path, capsys):
    # given a record folder with one crashed and one complete session
    import argparse

    from rec_synthetic import record

    from cer_desktop.recording import commands
    from cer_desktop.recording.recorder import SessionRecorder

    for name in ("crashed", "fine"):
        rec = SessionRecorder(tmp_path / name, block=True)
        record(rec, 12)
        rec.close()
    m = read_manifest(tmp_path / "crashed")
    m.update(status="recording", pid=2**22 + 54321)
    (tmp_path / "crashed" / "manifest.json").write_text(json.dumps(m))
    # when `cer recover ROOT` runs
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["recover", str(tmp_path)])
    assert args.func(args) == 0
    # then only the crashed one was recovered
    assert "recovered 12 frames" in capsys.readouterr().out
    assert read_manifest(tmp_path / "crashed")["status"] == "recovered"
    assert read_manifest(tmp_path / "fine")["status"] == "complete"
