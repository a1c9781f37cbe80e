"""`cer bench pipeline`: the live pipeline headless on the demo, with a slow CPU-bound recognizer.

The demo source (640x480, paced at 30 fps) feeds the real `FaceAnalyzer`; a `BusyRecognizer`
keeps one core busy for `--busy-ms` per call (torch matrix products on one thread, not a
sleep) in the recognizer worker; a display consumer turns every frame it is handed into a
`QImage` as the window does. Figures are taken after a warm-up: display fps while the slow
recognizer runs, capture-to-paint latency, per-face landmark and alignment times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

import numpy as np

from cer_desktop.bench.live_lvlm import add_lvlm_arguments, make_lvlm
from cer_desktop.contracts import Annotation
from cer_desktop.labels import get_label_set
from cer_desktop.pipeline.stats import PipelineStats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measured duration (default 20)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds run before measuring")
    parser.add_argument("--busy-ms", type=float, default=500.0, help="recognizer CPU time per call")
    parser.add_argument("--fps", type=float, default=30.0, help="demo source frame rate")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--label-set", default="raf_compound", help="label set scored")
    parser.add_argument("--recognizer", choices=("busy", "instant", "lvlm"), default="busy")
    add_lvlm_arguments(parser)
    parser.add_argument("--server", default=None, help="score on this remote server instead")
    parser.add_argument("--served-model", default=None, help="the model name --server serves")


class _Probe:
    """Counts painted frames (a sink) and displayed frames (the QImage consumer), with times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.measuring = False
        self.painted: list[tuple[float, float]] = []  # (t_paint, capture->paint ms)
        self.displayed: list[tuple[float, float]] = []  # (t_shown, capture->display ms)
        self.fresh_or_carried = 0
        self.faces = 0
        self.frames_with_face = 0

    # AnnotationSink
    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        now = time.monotonic()
        if self.measuring:
            with self.lock:
                self.painted.append((now, (now - annotation.frame.t_capture) * 1000.0))
                self.faces += len(annotation.faces)
                self.frames_with_face += bool(annotation.faces)
                self.fresh_or_carried += sum(fa.prediction is not None for fa in annotation.faces)
        return True

    def close(self) -> None:
        pass

    # the display: build a QImage exactly as the window's FrameBridge does
    def display(self, annotation: Annotation, painted: np.ndarray) -> None:
        from PySide6.QtGui import QImage

        a = np.ascontiguousarray(painted)
        h, w = a.shape[:2]
        image = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        now = time.monotonic()
        if self.measuring and not image.isNull():
            with self.lock:
                self.displayed.append((now, (now - annotation.frame.t_capture) * 1000.0))


def _rate(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / max(times[-1] - times[0], 1e-9)


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from cer_desktop.capture.sources import open_source
    from cer_desktop.session.factories import default_analyzer_factory
    from cer_desktop.session.live import LiveSession
    from cer_desktop.testing.fakes import BusyRecognizer
    from cer_desktop.vision.analyzer import FaceAnalyzer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QImage's context
    label_set = get_label_set(args.label_set)
    facts: dict[str, Any] = {}
    tmp = None
    if getattr(args, "server", None):
        from cer_desktop.recognition.factory import create_recognizer
        from cer_desktop.session.choice import RecognizerChoice

        choice = RecognizerChoice(server=args.server, served_model=args.served_model or "")
        recognizer: Any = create_recognizer(choice.to_spec())
    elif args.recognizer == "busy":
        recognizer = BusyRecognizer(busy_ms=args.busy_ms)
    elif args.recognizer == "lvlm":
        recognizer, facts, tmp = make_lvlm(args)
    else:
        from cer_desktop.recognition.instant import InstantRecognizer

        recognizer = InstantRecognizer()
    # Warm up torch (imports, first allocations) so the first call is not an outlier.
    from cer_desktop.testing.fakes import make_face

    recognizer.predict([make_face(0)], label_set)

    source = open_source("demo", width=args.width, height=args.height, fps=args.fps)
    # Render every demo expression once before timing (cached per process), so the figures
    # are the steady state of a camera-like source, not the demo's first-pass rendering.
    duration = float(getattr(source, "duration", 0.0) or 0.0)
    if hasattr(source, "render"):
        for t in np.arange(0.0, duration, 0.05):
            source.render(float(t))
    probe = _Probe()
    # The session the window drives, on the prepared demo source and the real analyzer.
    session = LiveSession(
        label_set,
        recognizer=recognizer,
        source_factory=lambda spec: source,
        analyzer_factory=default_analyzer_factory,
        smoothing=0.5,
        max_faces=4,
        on_display=probe.display,
        sinks=[probe],
    )
    try:
        session.start("demo")
        time.sleep(max(0.0, args.warmup))
        stats0 = session.stats
        calls0 = stats0.recognizer_calls if stats0 else 0
        captured0 = stats0.frames_captured if stats0 else 0
        session.reset_timings()
        probe.measuring = True
        t0 = time.monotonic()
        cpu_t0 = time.process_time()
        deadline = t0 + args.seconds
        while time.monotonic() < deadline and session.running:
            time.sleep(0.1)
        probe.measuring = False
        t1 = time.monotonic()
        cpu_t1 = time.process_time()
        stats = session.stats or PipelineStats(last_error="the session ended early")
    finally:
        session.shutdown()  # closes the analyzer and the recognizer
        if tmp is not None:
            tmp.cleanup()

    with probe.lock:
        painted = list(probe.painted)
        displayed = list(probe.displayed)
    elapsed = t1 - t0
    frames = len(painted)
    faces_per_frame = probe.faces / max(1, probe.frames_with_face)
    # FaceAnalyzer's timings are per frame (all faces); report per face too.
    lm_ms = stats.landmarks_ms_median
    al_ms = stats.align_ms_median
    return {
        "seconds": round(elapsed, 2),
        "busy_ms": args.busy_ms if args.recognizer == "busy" else 0.0,
        "recognizer": getattr(recognizer, "name", args.recognizer),
        "display_fps": round(_rate([t for t, _ in displayed]), 2),
        "capture_fps": round(_rate([t for t, _ in painted]), 2),
        "source_fps": args.fps,
        "frames": frames,
        "frames_captured": stats.frames_captured - captured0,
        "frames_displayed": len(displayed),
        "capture_to_paint_ms_median": round(_median([ms for _, ms in painted]), 2),
        "capture_to_paint_ms_p95": round(float(np.percentile([ms for _, ms in painted], 95)), 2)
        if painted
        else 0.0,
        "capture_to_display_ms_median": round(_median([ms for _, ms in displayed]), 2),
        "landmark_model": FaceAnalyzer(max_faces=1).landmark_model,  # built lazily: free
        "landmarks_ms_median": round(lm_ms, 2),
        "align_ms_median": round(al_ms, 2),
        "landmarks_plus_align_ms_per_face": round((lm_ms + al_ms) / max(1.0, faces_per_frame), 2),
        "faces_per_frame": round(faces_per_frame, 2),
        "frames_with_face": probe.frames_with_face,
        "frames_with_prediction_share": round(probe.fresh_or_carried / max(1, probe.faces), 3),
        "recognizer_calls": stats.recognizer_calls - calls0,
        "recognizer_latency_ms_median": round(stats.recognizer_latency_ms, 1),
        "recognizer_requests_replaced": stats.recognizer_replaced,
        "display_replaced": stats.display_replaced,
        "frames_dropped_by_sinks": stats.dropped_total,
        "process_cpu_percent": round(100.0 * (cpu_t1 - cpu_t0) / max(elapsed, 1e-9), 1),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "last_error": stats.last_error,
        **facts,
    }
