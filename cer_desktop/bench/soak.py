"""`cer bench soak --minutes M`: the live session recording for M minutes, watched per minute.

The window's composition (`LiveSession` recording through its `SessionRecording`; the JSON's
`composition` names it): the demo source (640x480, paced at 30 fps, its expressions
pre-rendered) feeds MediaPipe, the recognizer (`instant` by default; `--recognizer lvlm` for
the small local LVLM, see `live_lvlm`) and the painter, while the recording writes the
annotated and raw videos and the CSV, and a display consumer builds a `QImage` of every frame
it is handed, as the window does. Every second the process's RSS is sampled; every minute its load average, the
frames displayed, open descriptors and threads are noted.

Reports: `rss_mb_start/end/max`, `rss_growth_mb_per_hour` (least-squares slope of RSS after
the first, warm-up minute), `display_fps_min` (the lowest of any whole minute),
`frames_dropped` (frames the recorder or any sink dropped; requests replaced under the
recognizer's newest-wins policy and frames the newest-only display skipped are policy, and
reported apart), `recorder_queue_max`, `fds_start/end` and `threads_start/end` (start = the
end of the first minute, once everything is open), and `minutes`:
the figures of each minute with its load average (other work on the machine costs fps).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.bench.live_lvlm import add_lvlm_arguments, make_lvlm
from cer_desktop.contracts import Annotation


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    p.add_argument("--recognizer", choices=("instant", "lvlm"), default="instant")
    add_lvlm_arguments(p)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--no-raw", action="store_true", help="record the annotated video only")
    p.add_argument("--out", default=None, help="keep the session in this folder")


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


class _Watch:
    """Counts displayed frames (building a QImage each, as the window) and recorder depth."""

    def __init__(self) -> None:
        self.recorder: Any = None  # the recording's, once it runs
        self.lock = threading.Lock()
        self.displayed = 0
        self.queue_max = 0

    def display(self, annotation: Annotation, painted: np.ndarray) -> None:
        from PySide6.QtGui import QImage

        a = np.ascontiguousarray(painted)
        h, w = a.shape[:2]
        image = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        with self.lock:
            self.displayed += not image.isNull()

    # an AnnotationSink after the recorder: its queue depth as frames arrive
    name = "soak-watch"

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        recorder = self.recorder
        depth = recorder.queue_depth if recorder is not None else 0
        with self.lock:
            self.queue_max = max(self.queue_max, depth)
        return True

    def close(self) -> None:
        pass


def _slope_per_hour(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 10:
        return None
    t = np.array([s[0] for s in samples])
    y = np.array([s[1] for s in samples])
    slope = float(np.polyfit(t - t[0], y, 1)[0])  # MB per second
    return round(slope * 3600.0, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from cer_desktop.bench.live_session import COMPOSITION, live_session, record_into
    from cer_desktop.capture.sources import open_source
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.pipeline.stats import PipelineStats

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QImage's context
    label_set = RAF_COMPOUND.with_neutral()
    facts: dict[str, Any] = {}
    lvlm_tmp = None
    if args.recognizer == "lvlm":
        recognizer, facts, lvlm_tmp = make_lvlm(args)
    else:
        from cer_desktop.recognition.instant import InstantRecognizer

        recognizer = InstantRecognizer()
    source = open_source("demo", width=args.width, height=args.height, fps=args.fps)
    duration = float(getattr(source, "duration", 0.0) or 0.0)
    if hasattr(source, "render"):
        for t in np.arange(0.0, duration, 0.05):
            source.render(float(t))
    tmp = None if args.out else tempfile.mkdtemp(prefix="cer-bench-soak-")
    folder = Path(args.out) if args.out else Path(tmp or ".") / "session"
    watch = _Watch()
    session = live_session(
        source, recognizer, label_set, max_faces=4, sinks=[watch], on_display=watch.display
    )
    minutes: list[dict[str, Any]] = []
    rss: list[tuple[float, float]] = []
    start = {"rss_mb": _rss_mb(), "fds": _fds(), "threads": _threads()}
    try:
        session.start("demo")
        recorder = watch.recorder = record_into(session, folder, record_raw=not args.no_raw)
        t0 = time.monotonic()
        end = t0 + args.minutes * 60.0
        next_minute, shown0 = t0 + 60.0, 0
        while time.monotonic() < end and session.running:
            time.sleep(1.0)
            now = time.monotonic()
            rss.append((now - t0, _rss_mb()))
            if now >= next_minute or now >= end:
                with watch.lock:
                    shown = watch.displayed
                span = now - (next_minute - 60.0)
                minutes.append(
                    {
                        "minute": len(minutes) + 1,
                        "display_fps": round((shown - shown0) / span, 2),
                        "rss_mb": round(rss[-1][1], 1),
                        "load_avg": round(os.getloadavg()[0], 2),
                        "fds": _fds(),
                        "threads": _threads(),
                        "seconds": round(span, 1),
                    }
                )
                shown0, next_minute = shown, now + 60.0
        stats = session.stats or PipelineStats(last_error="the session ended early")
        end_state = {"rss_mb": _rss_mb(), "fds": _fds(), "threads": _threads()}
    finally:
        session.shutdown()  # the recording finished, the analyzer and the recognizer closed
        if lvlm_tmp is not None:
            lvlm_tmp.cleanup()
    whole = [m for m in minutes if m["seconds"] >= 59.0]
    after_warmup = [(t, v) for t, v in rss if t >= 60.0]
    result: dict[str, Any] = {
        "composition": COMPOSITION,
        "minutes_run": round(len(rss) / 60.0, 2),
        "recognizer": getattr(recognizer, "name", args.recognizer),
        "rss_mb_start": round(start["rss_mb"], 1),
        "rss_mb_end": round(end_state["rss_mb"], 1),
        "rss_mb_max": round(max((v for _, v in rss), default=0.0), 1),
        "rss_growth_mb_per_hour": _slope_per_hour(after_warmup),
        "display_fps_min": min((m["display_fps"] for m in whole), default=None),
        "frames_dropped": recorder.frames_dropped + stats.dropped_total,
        "frames_written": recorder.frames_written,
        "recorder_error": recorder.error,
        "recorder_queue_max": watch.queue_max,
        "recognizer_requests_replaced": stats.recognizer_replaced,
        "display_replaced": stats.display_replaced,
        # "start" = the end of the first minute, when every thread and file is open
        "fds_start": minutes[0]["fds"] if minutes else start["fds"],
        "fds_end": end_state["fds"],
        "threads_start": minutes[0]["threads"] if minutes else start["threads"],
        "threads_end": end_state["threads"],
        "fds_before_start": start["fds"],
        "threads_before_start": start["threads"],
        "last_error": stats.last_error,
        "minutes": minutes,
        **facts,
    }
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
