"""Where the machine's time went, second by second: a live bench's worst seconds explained.

A live bench's lowest second (display fps, a latency tail) is either the program's doing or the
machine's: on a virtual machine the host can take the CPUs away (steal time), another process
can take them, or the disk can hold a write. `CpuSeconds` samples Linux's `/proc/stat` (all
CPUs: user+system, idle, iowait, steal) and this process's CPU time every 50 ms on a thread of
its own, so each second of a bench window can be told apart afterwards. Elsewhere (no
`/proc/stat`) it records nothing and `second()` returns None.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from pathlib import Path

STAT = Path("/proc/stat")
# /proc/stat's "cpu" line: user nice system idle iowait irq softirq steal (guest counted in user)
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _read_stat() -> dict[str, float] | None:
    try:
        line = STAT.read_text(encoding="ascii").split("\n", 1)[0]
    except OSError:
        return None
    values = [float(v) for v in line.split()[1 : 1 + len(_FIELDS)]]
    return dict(zip(_FIELDS, values, strict=False))


class CpuSeconds:
    """Samples the machine's CPU accounts every `interval` s between `start()` and `stop()`."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._tick_ms = 1000.0 / float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 10.0
        self._times: list[float] = []
        self._samples: list[tuple[dict[str, float], float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.available = _read_stat() is not None

    def start(self) -> None:
        if not self.available or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="cer-bench-cpu", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            stat = _read_stat()
            if stat is not None:
                self._samples.append((stat, time.process_time()))
                self._times.append(time.monotonic())
            self._stop.wait(self.interval)

    def second(self, start: float, length: float = 1.0) -> dict[str, float] | None:
        """CPU milliseconds of the window `[start, start + length)` (monotonic clock), summed
        over the CPUs: `busy` (user, nice, system, irq, softirq), `idle`, `iowait`, `steal`,
        and `process` (this process alone) — from the samples nearest its two ends."""
        if len(self._times) < 2:
            return None
        i = min(bisect_left(self._times, start), len(self._times) - 1)
        j = min(bisect_left(self._times, start + length), len(self._times) - 1)
        if j <= i:
            return None
        (a, pa), (b, pb) = self._samples[i], self._samples[j]
        per_s = length / (self._times[j] - self._times[i])  # the samples' span -> the window

        def ms(*keys: str) -> float:
            return round(sum(b[k] - a[k] for k in keys) * per_s * self._tick_ms, 1)

        return {
            "busy_ms": ms("user", "nice", "system", "irq", "softirq"),
            "idle_ms": ms("idle"),
            "iowait_ms": ms("iowait"),
            "steal_ms": ms("steal"),
            "process_ms": round((pb - pa) * 1000.0 * per_s, 1),
        }
