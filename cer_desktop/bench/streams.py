"""`cer bench streams --json`: the live session streaming to LSL, WebSocket and OSC, with a
receiver per stream and an experiment's marker outlet in other processes.

The source: 640x480 frames with two astronaut faces (`bench.vision`), paced at 30 fps, through
MediaPipe and the instant recognizer in a `LiveSession` that records (markers need a
recording's events.jsonl). All three streams are on; a receiver process reads them (an LSL
inlet with `time_correction()`, a WebSocket client, an OSC server), another process sends a
marker a second. As root this runs inside a network namespace of its own (`unshare --net`,
only `lo`): LSL's multicast discovery never leaves the machine. Without one, the LSL part
is left out (its figures are null) and `in_network_namespace` is false.

Reports: `*_samples_sent`/`*_lost` (frames the session handed to the stream in the measured
window and those the receiver never got, queue drops included), capture -> received latency
median and p99 per stream, `marker_latency_ms_max` (a marker's LSL time -> its line in
events.jsonl, its new lines read every 5 ms), `display_fps_min` (the lowest whole second
after warm-up) and capture -> display latency (median, p99).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.bench.cpu_seconds import CpuSeconds
from cer_desktop.testing.netns import (
    ENV_MARK,
    in_private_netns,
    netns_command,
    netns_env,
    netns_problem,
)

WARM_UP_S = 5.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=300.0, help="measured time (default 300)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--marker-interval", type=float, default=1.0, help="seconds between markers")
    p.add_argument(
        "--warm-up", type=float, default=WARM_UP_S, help="seconds before the measured window"
    )
    p.add_argument(
        "--no-namespace", action="store_true", help="run here without LSL (no namespace made)"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    if in_private_netns():
        return _measure(args, lsl=True)
    problem = None if args.no_namespace or os.environ.get(ENV_MARK) else netns_problem()
    if args.no_namespace or problem is not None:
        result = _measure(args, lsl=False)
        result["lsl_skipped"] = problem or "--no-namespace"
        return result
    cmd = [sys.executable, "-m", "cer_desktop", "bench", "streams", "--json"]
    cmd += ["--seconds", str(args.seconds), "--fps", str(args.fps)]
    cmd += ["--marker-interval", str(args.marker_interval), "--warm-up", str(args.warm_up)]
    out = subprocess.run(netns_command(cmd), env=netns_env(), capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"the namespaced run failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("bench", "machine", "cpus", "python", "date"):
        result.pop(key, None)
    return dict(result)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    a = np.asarray(values)
    return round(float(np.median(a)), 2), round(float(np.percentile(a, 99)), 2)


class _Tap:
    """Between the session's switchable sink and the hub: notes each frame handed to the
    streams (frame id, capture time), so losses are counted frame by frame."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.frames: list[tuple[int, float]] = []

    def submit(self, annotation: Any, painted: np.ndarray) -> bool:
        self.frames.append((int(annotation.frame.frame_id), float(annotation.frame.t_capture)))
        return bool(self.target.submit(annotation, painted))


class _Display:
    """Counts the frames the session hands to the display, per whole second."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.latency_ms: list[float] = []  # capture -> display
        self.session: Any = None

    def __call__(self, annotation: Any, painted: np.ndarray) -> None:
        now = time.monotonic()
        self.times.append(now)
        self.latency_ms.append((now - float(annotation.frame.t_capture)) * 1000.0)
        if self.session is not None:
            self.session.note_displayed()

    def per_second(self, start: float, end: float) -> np.ndarray:
        """Frames displayed in each whole second from `start`."""
        seconds = int(end - start)
        t = np.asarray([x for x in self.times if start <= x < start + seconds])
        return np.histogram(t, bins=max(seconds, 1), range=(start, start + max(seconds, 1)))[0]

    def fps_min(self, start: float, end: float) -> float | None:
        counts = self.per_second(start, end)
        return float(counts.min()) if int(end - start) >= 1 and counts.sum() else None


def _worst_seconds(
    display: _Display,
    captured: np.ndarray,
    cpu: CpuSeconds,
    lsl_capture_s: np.ndarray,
    lsl_latency_ms: np.ndarray,
    start: float,
    end: float,
    fps: float,
) -> dict[str, Any]:
    """The seconds where the display fell below `fps - 1` or LSL's latency passed 100 ms,
    each with the frames captured in it (capture times), the slowest capture -> display,
    what the machine's CPUs did in it (`cpu_seconds`), and a typical second's."""
    counts = display.per_second(start, end)
    bins = max(counts.size, 1)
    took = np.histogram(captured, bins=bins, range=(start, start + bins))[0]
    shown = np.asarray(display.times)
    shown_ms = np.asarray(display.latency_ms)
    late = np.zeros(counts.size)
    if lsl_capture_s.size:
        k = np.floor(lsl_capture_s - start).astype(int)
        inside = (k >= 0) & (k < counts.size)
        np.maximum.at(late, k[inside], lsl_latency_ms[inside])
    worst = [k for k in range(counts.size) if counts[k] < fps - 1 or late[k] > 100.0]
    worst = sorted(worst, key=lambda k: (counts[k], -late[k]))[:12]
    seconds: list[dict[str, Any]] = [
        {
            "at_s": k,
            "display_fps": int(counts[k]),
            "captured": int(took[k]),
            "display_latency_ms_max": _max_in(shown_ms, shown, start + k),
            "lsl_latency_ms_max": round(float(late[k]), 1),
        }
        | dict(cpu.second(start + k) or {})
        for k in sorted(worst)
    ]
    typical = [cpu.second(start + k) for k in range(counts.size)]
    rows = [t for t in typical if t is not None]
    median = (
        {key: round(float(np.median([r[key] for r in rows])), 1) for key in rows[0]} if rows else {}
    )
    return {"worst_seconds": seconds, "cpu_ms_per_second_median": median}


def _max_in(values: np.ndarray, times: np.ndarray, t0: float) -> float | None:
    inside = values[(times >= t0) & (times < t0 + 1.0)]
    return round(float(inside.max()), 1) if inside.size else None


def _trial(note: str) -> int:
    return int(note.split()[-1]) if note.split()[-1].isdigit() else -1


def _watch_events(path: Path, stop: threading.Event, landed: dict[str, float]) -> None:
    """Note when each LSL marker's line lands in events.jsonl (its new bytes read every 5 ms:
    the file grows all session long, and reading it whole each time would load the bench)."""
    import pylsl

    handle = None
    pending = ""
    try:
        while not stop.is_set():
            if handle is None:
                with contextlib.suppress(OSError):
                    handle = path.open(encoding="utf-8")
            pending += handle.read() if handle is not None else ""
            now = pylsl.local_clock()
            *lines, pending = pending.split("\n")
            for line in lines:
                e = json.loads(line) if line.strip() else {}
                if e.get("source") == "lsl":
                    landed[e["note"]] = (now - e["lsl_time_local"]) * 1000.0
            time.sleep(0.005)
    finally:
        if handle is not None:
            handle.close()


def _measure(args: argparse.Namespace, lsl: bool) -> dict[str, Any]:
    from cer_desktop.bench.vision import _frames
    from cer_desktop.capture.sources import ArraySource
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recording.session_folder import SessionPaths
    from cer_desktop.session.factories import instant_recognizer
    from cer_desktop.session.live import LiveSession
    from cer_desktop.session.streams import SessionStreams
    from cer_desktop.streams.config import StreamsConfig

    frames = _frames(2, 90)
    display = _Display()
    sink = SessionStreams.make_sink()
    session = LiveSession(
        RAF_COMPOUND.with_neutral(),
        recognizer=instant_recognizer(),
        source_factory=lambda spec: ArraySource(frames, fps=args.fps, live=True, loop=True),
        max_faces=2,
        on_display=display,
        sinks=(sink,),
    )
    display.session = session
    streams = SessionStreams(session, sink, max_faces=2)
    ws_port, osc_port = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    config = StreamsConfig(
        lsl=lsl,
        ws=f"127.0.0.1:{ws_port}",
        osc=f"127.0.0.1:{osc_port}",
        lsl_markers="bench-experiment" if lsl else "",
    )
    tmp = Path(tempfile.mkdtemp(prefix="cer-bench-streams-"))
    peers = "cer_desktop.bench.streams_peers"
    receiver = marker_proc = None
    landed: dict[str, float] = {}
    stop = threading.Event()
    cpu = CpuSeconds()
    try:
        problems = streams.apply(config)
        if problems:
            raise RuntimeError("; ".join(problems))
        tap = _Tap(sink.target)
        sink.target = tap  # type: ignore[assignment]
        if not session.start("bench"):
            raise RuntimeError("the session did not start")
        folder = session.recording.start(tmp)
        if folder is None:
            raise RuntimeError("the recording did not start")
        cmd = [sys.executable, "-m", peers, "receive", "--ws", str(ws_port)]
        cmd += ["--osc", str(osc_port), "--out", str(tmp / "received.json")]
        receiver = subprocess.Popen(
            cmd + (["--lsl"] if lsl else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError("the receiver did not start")
        time.sleep(args.warm_up)  # MediaPipe's first frames, the receivers' connections
        cpu.start()
        t_start = time.monotonic()
        count = max(1, int(args.seconds / args.marker_interval) - 1)
        if lsl:
            watcher = threading.Thread(
                target=_watch_events,
                args=(SessionPaths(folder).events, stop, landed),
                name="cer-bench-events",
                daemon=True,
            )
            watcher.start()
            marker_proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    peers,
                    "markers",
                    "bench-experiment",
                    str(count),
                    str(args.marker_interval),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        time.sleep(args.seconds)
        t_end = time.monotonic()
        cpu.stop()
        marker_times = (
            json.loads(marker_proc.communicate(timeout=120)[0].strip().splitlines()[-1])
            if marker_proc
            else []
        )
        stats = session.stats  # before stop(): None once stopped
        session.recording.stop()
        session.stop()
        time.sleep(1.0)  # the last frames reach the receiver
        receiver.communicate("done\n", timeout=120)
        received = json.loads((tmp / "received.json").read_text(encoding="utf-8"))
        counts = streams.counts()
        offset = streams.hub.lsl_clock_offset if streams.hub is not None else None
    finally:
        stop.set()
        cpu.stop()
        for proc in (receiver, marker_proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
        streams.close()
        session.shutdown()
    window = [(f, t) for f, t in tap.frames if t_start <= t < t_end]
    result: dict[str, Any] = {
        "seconds": args.seconds,
        "fps": args.fps,
        "faces": 2,
        "in_network_namespace": lsl and in_private_netns(),
        "display_fps_min": display.fps_min(t_start, t_end),
        "frames_in_window": len(window),
        # frames shown in the window (a lowest second under 30 with all shown = late frames
        # bunched across a second's edge, not frames lost), and those the display replaced
        "display_frames_in_window": int(display.per_second(t_start, t_end).sum()),
        "display_replaced": getattr(stats, "display_replaced", None),
    }
    shown = np.asarray(display.times)
    inside = np.asarray(display.latency_ms)[(shown >= t_start) & (shown < t_end)]
    # capture -> shown: the display holds frames to their capture pace (pipeline/display.py)
    med, p99 = _stats(inside.tolist())
    result["display_latency_ms_median"], result["display_latency_ms_p99"] = med, p99
    ids = {f for f, _ in window}
    for name in ("ws", "osc"):
        got = set(received[name]["frames"]) & ids
        med, p99 = _stats(received[name]["latency_ms"])
        result[f"{name}_messages_sent"] = len(window)
        result[f"{name}_messages_lost"] = len(ids - got)
        result[f"{name}_latency_ms_median"], result[f"{name}_latency_ms_p99"] = med, p99
    if lsl and offset is not None:
        got_t = np.sort(np.asarray(received["lsl"]["times"]))
        lost: int = 0
        for _, t in window:
            i = np.searchsorted(got_t, t + offset)
            near = [abs(got_t[j] - (t + offset)) for j in (i - 1, i) if 0 <= j < got_t.size]
            lost += int(not near or min(near) > 0.001)
        med, p99 = _stats(received["lsl"]["latency_ms"])
        result.update(lsl_samples_sent=len(window), lsl_samples_lost=lost)
        result.update(lsl_latency_ms_median=med, lsl_latency_ms_p99=p99)
        result["markers_sent"] = len(marker_times)
        result["markers_in_events"] = len(landed)
        result["marker_latency_ms_max"] = round(max(landed.values()), 2) if landed else None
        result["marker_latency_ms_median"] = _stats(list(landed.values()))[0]
        result["marker_latencies_ms"] = [round(landed[k], 1) for k in sorted(landed, key=_trial)]
    else:
        result.update(lsl_samples_sent=None, lsl_samples_lost=None, lsl_latency_ms_median=None)
        result.update(lsl_latency_ms_p99=None, marker_latency_ms_max=None)
    lsl_rx = received["lsl"] if lsl and offset is not None else {"times": [], "latency_ms": []}
    capture_s = np.asarray(lsl_rx["times"], dtype=float) - (offset or 0.0)
    latency = np.asarray(lsl_rx["latency_ms"], dtype=float)
    captured = np.asarray([t for _, t in tap.frames], dtype=float)
    worst = _worst_seconds(display, captured, cpu, capture_s, latency, t_start, t_end, args.fps)
    result.update(worst)
    result["stream_counts"] = {k: dict(v) for k, v in counts.items()}
    try:
        result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return result
