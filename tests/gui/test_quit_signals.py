"""SIGINT, SIGTERM and SIGHUP sent to the recording window leave a complete session."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from cer_desktop.recording.video import count_frames
from cer_desktop.testing.processes import wait_for_frames


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_a_signal_stops_the_recording_cleanly_and_quits(tmp_path, sig):
    # given the app recording the demo
    record = tmp_path / "rec"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CER_DESKTOP_CONFIG_DIR": str(tmp_path / "cfg"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cer_desktop.gui.app", "--source", "demo", "--record"]
        + ["--record-folder", str(record), "--no-save"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        written = wait_for_frames(lambda: record.glob("*/manifest.json"), proc, 20, 90)
        assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
        assert written >= 20, "the app never recorded 20 frames"
        # when the signal arrives
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # then the app quit by itself and the session is complete: video, CSV and manifest agree
    assert proc.returncode == 0, err[-2000:]
    [folder] = [p.parent for p in record.glob("*/manifest.json")]
    m = json.loads((folder / "manifest.json").read_text())
    assert m["status"] == "complete", m["status"]
    assert m["frames_written"] >= written
    assert count_frames(folder / "annotated.mp4") == m["frames_written"]
    with open(folder / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == m["csv_rows"]
    assert max(int(r["frame"]) for r in rows) < m["frames_written"]
