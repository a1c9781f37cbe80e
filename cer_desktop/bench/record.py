"""`cer bench record`: the live session on the demo source, recording annotated + raw video.

The window's composition (`LiveSession` with its `SessionRecording`, see `live_session.py`):
landmarks (MediaPipe), the instant recognizer and the painter run live on the built-in demo
source paced at 30 fps, 640x480, while the recording writes the annotated and the raw
video, the CSV and the manifest. Reports whether the recorder kept up: `frames_dropped`
(target 0), `frames_written` vs `frames_in` (equal), `source_fps` (>= 29.5), and the writer
thread's CPU use (`writer_cpu_percent`, 100 = one core busy).
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

from cer_desktop.contracts import Annotation


class _Probe:
    """A sink that sees every painted frame: capture times and the recorder's queue depth."""

    name = "probe"

    def __init__(self) -> None:
        self.recorder: Any = None  # set once the recording runs: frames before it are not counted
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.frames = 0
        self.max_queue = 0
        self.faces = 0
        self.max_gap_s = 0.0  # the longest wait between two recorded frames (capture times)
        self._lock = threading.Lock()

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        t = annotation.frame.t_capture
        if self.recorder is None:
            return True
        with self._lock:
            if self.t_first is None:
                self.t_first = t
            elif self.t_last is not None:
                self.max_gap_s = max(self.max_gap_s, t - self.t_last)
            self.t_last = t
            self.frames += 1
            self.faces += len(annotation.faces)
            self.max_queue = max(self.max_queue, self.recorder.queue_depth)
        return True

    def close(self) -> None:
        pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=120.0, help="recording length (default 120)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--no-raw", action="store_true", help="record the annotated video only")
    p.add_argument("--queue-size", type=int, default=64, help="recorder queue (frames)")
    p.add_argument("--preset", default="veryfast", help="libx264 preset")
    p.add_argument("--out", default=None, help="keep the session in this folder")
    p.add_argument("--no-verify", action="store_true", help="skip decoding the videos afterwards")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cer_desktop.bench.live_session import COMPOSITION, live_session, record_into
    from cer_desktop.capture.sources import open_source
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.pipeline.stats import PipelineStats
    from cer_desktop.recognition.instant import InstantRecognizer
    from cer_desktop.recording.session_folder import SessionPaths
    from cer_desktop.recording.video import count_frames

    tmp = None
    if args.out:
        folder = Path(args.out)
    else:
        tmp = tempfile.mkdtemp(prefix="cer-bench-record-")
        folder = Path(tmp) / "session"
    paths = SessionPaths(folder)
    try:
        source = open_source("demo", width=args.width, height=args.height, fps=args.fps)
        # Render every demo expression once before timing (cached per process), so the
        # measurement is the steady state, not the demo's first-pass rendering.
        t_warm = time.monotonic()
        duration = float(getattr(source, "duration", 0.0) or 0.0)
        if hasattr(source, "render"):
            for t in np.arange(0.0, duration, 0.05):
                source.render(float(t))
        warmup_s = time.monotonic() - t_warm
        probe = _Probe()
        session = live_session(
            source, InstantRecognizer(), RAF_COMPOUND.with_neutral(), max_faces=4, sinks=[probe]
        )
        try:
            cpu0 = os.times()
            t0 = time.monotonic()
            session.start("demo")
            recorder = record_into(
                session,
                folder,
                record_raw=not args.no_raw,
                queue_size=args.queue_size,
                preset=args.preset,
            )
            probe.recorder = recorder
            deadline = t0 + args.seconds
            while time.monotonic() < deadline and session.running:
                time.sleep(0.2)
            stats = session.stats or PipelineStats(last_error="the session ended early")
            t_stop = time.monotonic()
            session.recording.stop()  # waits for the writer: the queue drained, files closed
            t_closed = time.monotonic()
            cpu1 = os.times()
            session.stop()
        finally:
            session.shutdown()  # closes the analyzer and the recognizer
        span = (probe.t_last or 0.0) - (probe.t_first or 0.0)
        source_fps = (probe.frames - 1) / span if span > 0 else 0.0
        wall = max(t_closed - t0, 1e-9)
        result: dict[str, Any] = {
            "composition": COMPOSITION,
            "seconds": round(t_stop - t0, 2),
            "warmup_s": round(warmup_s, 2),
            "width": args.width,
            "height": args.height,
            "raw_video": not args.no_raw,
            "preset": args.preset,
            "source_fps": round(source_fps, 2),
            # at 30 fps ~33 ms; the face model's start once held the first frame ~0.7 s
            "max_gap_ms": round(1000.0 * probe.max_gap_s, 1),
            "frames_in": recorder.frames_submitted,
            "frames_captured": stats.frames_captured,
            "frames_written": recorder.frames_written,
            "frames_dropped": recorder.frames_dropped,
            "drop_reasons": recorder.drop_reasons,
            "recorder_error": recorder.error,
            "face_rows": probe.faces,
            "max_queue_depth": probe.max_queue,
            "queue_size": args.queue_size,
            "close_wait_s": round(t_closed - t_stop, 2),
            "writer_cpu_percent": round(100.0 * recorder.writer_cpu_s / wall, 1),
            "process_cpu_percent": round(
                100.0 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall, 1
            ),
            "landmarks_ms_median": round(stats.landmarks_ms_median, 2),
            "capture_to_paint_ms_median": round(stats.capture_to_paint_ms_median, 2),
            "annotated_mb": round(paths.annotated_video.stat().st_size / 1e6, 2),
        }
        if not args.no_raw:
            result["raw_mb"] = round(paths.raw_video.stat().st_size / 1e6, 2)
        if not args.no_verify:
            result["annotated_frames_decoded"] = count_frames(paths.annotated_video)
            if not args.no_raw:
                result["raw_frames_decoded"] = count_frames(paths.raw_video)
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
