"""`cer bench streams` end to end, briefly: every stream's receiver got every frame of the
window, the experiment's markers reached events.jsonl, and the LSL part ran inside its own
network namespace. (Speeds are the benchmark's to report, not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cer_desktop.testing.netns import netns_problem

pytest.importorskip("pylsl", reason="the streams extra (pylsl) is not installed")
pytest.importorskip("websockets", reason="the streams extra (websockets) is not installed")
pytest.importorskip("pythonosc", reason="the streams extra (python-osc) is not installed")

REPO = Path(__file__).parents[2]


@pytest.mark.slow
def test_a_short_bench_loses_nothing_and_reports_its_keys() -> None:
    problem = netns_problem()
    if problem is not None:
        pytest.skip(f"the LSL part needs a network namespace of its own: {problem}")
    cmd = [sys.executable, "-m", "cer_desktop", "bench", "streams", "--json"]
    cmd += ["--seconds", "4", "--warm-up", "2", "--marker-interval", "0.5"]
    out = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr[-4000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "lsl_samples_sent", "lsl_samples_lost", "ws_messages_lost", "osc_messages_lost",
        "lsl_latency_ms_median", "lsl_latency_ms_p99", "ws_latency_ms_median",
        "marker_latency_ms_max", "display_fps_min", "in_network_namespace",
    ):  # fmt: skip
        assert key in r, key
    assert r["in_network_namespace"] is True
    assert r["lsl_samples_sent"] > 0 and r["lsl_samples_sent"] == r["ws_messages_sent"]
    assert (r["lsl_samples_lost"], r["ws_messages_lost"], r["osc_messages_lost"]) == (0, 0, 0)
    assert r["markers_sent"] >= 5 and r["markers_in_events"] == r["markers_sent"]
    # each second's CPU accounts (machine and process), so a low second can be explained
    assert set(r["cpu_ms_per_second_median"]) >= {"busy_ms", "idle_ms", "steal_ms", "process_ms"}
    assert r["cpu_ms_per_second_median"]["process_ms"] > 0
    assert 0 < r["display_frames_in_window"] <= r["frames_in_window"] + 5  # edges: late frames
    assert isinstance(r["display_replaced"], int)
    # what the display's hold costs (capture -> shown)
    assert r["display_latency_ms_p99"] >= r["display_latency_ms_median"] > 0
    for second in r["worst_seconds"]:
        assert second["display_fps"] < 29 or second["lsl_latency_ms_max"] > 100, second
        assert second["captured"] >= 0 and "display_latency_ms_max" in second
