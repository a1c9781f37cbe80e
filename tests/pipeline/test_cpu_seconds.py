"""`bench.cpu_seconds`: a window's CPU accounts add up to the machine's CPUs times its length,
and a window in which this process spins shows that time as the process's and as busy."""

from __future__ import annotations

import os
import sys
import time

import pytest

from cer_desktop.bench.cpu_seconds import CpuSeconds

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")


def test_a_spinning_window_is_counted_as_this_process_and_busy() -> None:
    cpu = CpuSeconds(interval=0.02)
    assert cpu.second(time.monotonic()) is None  # nothing sampled yet
    cpu.start()
    try:
        time.sleep(0.2)
        t0, c0 = time.monotonic(), time.process_time()
        while time.process_time() - c0 < 0.4:
            pass
        t1 = time.monotonic()
        time.sleep(0.2)
    finally:
        cpu.stop()
    w = cpu.second(t0, t1 - t0)
    assert w is not None
    assert 250.0 < w["process_ms"] < 700.0, w
    assert w["busy_ms"] >= 0.5 * w["process_ms"], w
    total = w["busy_ms"] + w["idle_ms"] + w["iowait_ms"] + w["steal_ms"]
    assert total == pytest.approx((os.cpu_count() or 1) * (t1 - t0) * 1000.0, rel=0.35), w
