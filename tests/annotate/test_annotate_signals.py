"""SIGINT, SIGTERM and SIGHUP stop `cer annotate` cleanly; the next run redoes the input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from cer_desktop.recording.video import count_frames
from cer_desktop.testing.processes import wait_for_frames

N = 1500


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "long.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        s.codec_context.time_base = Fraction(1, 30)
        for _ in range(N):
            image = rng.integers(0, 255, (120, 160, 3), np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=str)
def test_a_signal_finalises_the_input_and_exits_128_plus_n(tmp_path, long_clip, sig):
    # given `cer annotate` working through a long clip
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "cer_desktop", "annotate", str(long_clip), "-o", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    manifest = out / "long.mp4" / "manifest.json"
    try:
        written = wait_for_frames(lambda: [manifest], proc, 10, 90, poll=0.05)
        assert proc.poll() is None, "annotate ended before the signal"
        assert written >= 10, "annotate never wrote 10 frames"
        # when the signal arrives
        proc.send_signal(sig)
        printed, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # then it exits 128 + N, says so, and leaves a finalised session marked unfinished
    assert proc.returncode == 128 + sig, (proc.returncode, err[-2000:])
    assert f"stopped by {sig.name}" in printed, printed
    m = json.loads(manifest.read_text())
    assert m["status"] == "complete" and m["input_complete"] is False
    assert written <= m["frames_written"] < N
    assert count_frames(out / "long.mp4" / "annotated.mp4") == m["frames_written"]
    # and the same command later annotates the whole clip
    if sig == signal.SIGTERM:
        again = subprocess.run([*cmd, "--no-progress"], env=env, capture_output=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert json.loads(manifest.read_text())["input_complete"] is True
        assert count_frames(out / "long.mp4" / "annotated.mp4") == N
