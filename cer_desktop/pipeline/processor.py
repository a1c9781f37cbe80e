"""The work done on every frame: analyse, take recognizer results, smooth, paint, deliver.

`Pipeline` (pipeline.py) owns the threads and the source; a `FrameProcessor` is what it
does with each frame it reads, the same live and offline. See docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from cer_desktop.contracts import (
    Annotation,
    Face,
    FaceAnnotation,
    Frame,
    Prediction,
    Severity,
    StatusEvent,
    StatusKind,
    frozen_array,
)
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.display import DisplayCallback, DisplayThread
from cer_desktop.pipeline.painter import _as_rgb, paint
from cer_desktop.pipeline.results import RecognitionResult
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.pipeline.smoothing import Smoother
from cer_desktop.pipeline.stats import Rate, median

log = logging.getLogger(__name__)

NO_FACE = "No face found"
_MAX_LANES = 4  # analysis lanes (pipeline/analysis_lanes.py) a processor serves at most

#: Given a frame and its faces, the recognizer result to absorb (None: nothing new).
Recognize = Callable[[Frame, list[Face]], RecognitionResult | None]
#: Reports a typed status event (kind, message, severity, payload) and returns it.
ReportStatus = Callable[..., StatusEvent]


class Analyzer(Protocol):
    """What the pipeline needs from `cer_desktop.vision.analyzer.FaceAnalyzer`."""

    def process(self, frame: Frame) -> list[Face]: ...


def _sink_name(sink: object) -> str:
    return getattr(sink, "name", None) or type(sink).__name__


class FrameProcessor:
    """Per-frame work and its counters. Thread-safe configuration; `process` is called from
    one thread at a time (the capture thread live, the caller offline)."""

    def __init__(
        self,
        analyzer: Analyzer,
        label_set: LabelSet,
        report: ReportStatus,
        *,
        smoothing: float = 0.5,
        sinks: Iterable[AnnotationSink] = (),
        on_display: DisplayCallback | None = None,
        show_aus: bool = False,
        threshold: float | None = None,
    ) -> None:
        self.analyzer = analyzer
        self._analyzer_lock = threading.Lock()  # held while a frame is analysed
        self._lane_locks = [threading.Lock() for _ in range(_MAX_LANES)]  # by `find`, per lane
        self.show_aus = show_aus
        self.threshold = threshold
        self.t_start = 0.0
        self._report = report
        self._label_set = label_set
        self._smoother = Smoother(smoothing)
        self._sinks: list[AnnotationSink] = list(sinks)
        self._lock = threading.Lock()
        self._tracks: dict[int, Prediction] = {}
        self._absorbed_frame = -1
        self._condition = ""
        self.display: DisplayThread | None = None
        if on_display is not None:
            self.display = DisplayThread(
                on_display, on_replaced=self._count_replaced, on_delivered=self._count_delivered
            )
        self.capture_rate = Rate()
        self.display_rate = Rate()
        self._display_reported = False
        # Recent per-frame timings (a few minutes at 30 fps) for medians.
        self._c2p: deque[float] = deque(maxlen=6000)
        self._landmarks: deque[float] = deque(maxlen=6000)
        self._align: deque[float] = deque(maxlen=6000)
        self._counts = {"captured": 0, "painted": 0, "displayed": 0, "replaced": 0, "no_face": 0}
        self._dropped: dict[str, int] = {}
        self._t_capture: dict[int, float] = {}  # recent frames' capture times (prediction age)

    # -- configuration --------------------------------------------------------------------
    @property
    def label_set(self) -> LabelSet:
        with self._lock:
            return self._label_set

    def set_label_set(self, label_set: LabelSet) -> None:
        with self._lock:
            self._label_set = label_set
            self._tracks.clear()
        self._smoother.reset()

    @property
    def smoothing(self) -> float:
        return self._smoother.strength

    def set_smoothing(self, strength: float) -> None:
        self._smoother.strength = strength

    def replace_analyzer(self, analyzer: Analyzer) -> Analyzer:
        """Analyse the next frame with `analyzer` (a run goes on; nothing restarts); returns
        the one replaced, which no frame uses any more (the caller closes it). Waits for at
        most the frame being analysed."""
        with contextlib.ExitStack() as held:
            for lock in (self._analyzer_lock, *self._lane_locks):
                held.enter_context(lock)
            old, self.analyzer = self.analyzer, analyzer
        return old

    def add_sink(self, sink: AnnotationSink, *, first: bool = False) -> None:
        """Deliver painted frames to `sink` too (`first`: before the sinks already there)."""
        with self._lock:
            if sink not in self._sinks:
                self._sinks.insert(0 if first else len(self._sinks), sink)

    def remove_sink(self, sink: AnnotationSink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    @property
    def sinks(self) -> tuple[AnnotationSink, ...]:
        with self._lock:
            return tuple(self._sinks)

    def reset_timings(self) -> None:
        with self._lock:
            self._c2p.clear()
            self._landmarks.clear()
            self._align.clear()

    def note_displayed(self) -> None:
        self._display_reported = True
        self.display_rate.tick()
        self._count("displayed")

    def warm_up(self) -> None:
        """Let the analyzer start its models now (`FaceAnalyzer.warm_up`), so the first frame
        is not held up by it; a failure is logged here and shows on the first frame."""
        with self._analyzer_lock:  # not closed by a swap while it warms up
            warm_up = getattr(self.analyzer, "warm_up", None)
            if warm_up is not None:
                try:
                    warm_up()
                except Exception:
                    log.exception("warming up the face analyzer failed")

    # -- per frame ------------------------------------------------------------------------
    def analyse(self, frame: Frame) -> tuple[Frame, list[Face]]:
        """The frame as RGB and its faces (an analyzer failure is reported: no faces)."""
        frame = _ensure_rgb(frame)
        faces: list[Face] | Exception
        try:
            with self._analyzer_lock:
                faces = list(self.analyzer.process(frame))
        except Exception as exc:  # the analyzer failing on one frame is not fatal
            faces = exc
        return self._faces_of(frame, faces)

    def lanes(self) -> int:
        """How many frames the analyzer can find faces in at once (its `lanes`, when it has
        `find` and `track`; else 1: `analyse` does the whole of it)."""
        a = self.analyzer
        if not (callable(getattr(a, "find", None)) and callable(getattr(a, "track", None))):
            return 1
        return max(1, min(_MAX_LANES, int(getattr(a, "lanes", 1))))

    def find(self, frame: Frame, lane: int) -> tuple[Frame, Any]:
        """The first part of `analyse`, on analysis lane `lane` (any order, one thread per
        lane): the frame as RGB and what the analyzer found, for `track`."""
        frame = _ensure_rgb(frame)
        with self._lane_locks[lane % _MAX_LANES]:
            analyzer = self.analyzer
            try:
                return frame, (analyzer, analyzer.find(frame, lane))  # type: ignore[attr-defined]
            except Exception as exc:  # reported by `track`, in order
                return frame, (analyzer, exc)

    def track(self, frame: Frame, found: Any) -> tuple[Frame, list[Face], int]:
        """The rest of `analyse`, in frame order: the frame, its faces with track ids and the
        faces beyond the limit. The analyzer that found them tracks them (a swap between
        the two leaves it tracking the frames it found)."""
        analyzer, what = found
        if isinstance(what, Exception):
            return *self._faces_of(frame, what), 0
        try:
            faces = list(analyzer.track(frame, what))
        except Exception as exc:
            return *self._faces_of(frame, exc), 0
        return *self._faces_of(frame, faces, analyzer), int(getattr(what, "dropped", 0))

    def _faces_of(
        self, frame: Frame, faces: list[Face] | Exception, analyzer: Any = None
    ) -> tuple[Frame, list[Face]]:
        """Counts a frame analysed (or its failure: reported, no faces) and its timings."""
        self.capture_rate.tick(frame.t_capture)
        self._count("captured")
        if isinstance(faces, Exception):  # the analyzer failing on one frame is not fatal
            log.error("face analysis failed", exc_info=faces)
            message = f"Face analysis failed: {type(faces).__name__}: {faces}"
            self._report(StatusKind.ANALYSIS_ERROR, message, Severity.ERROR)
            faces = []
        timing = getattr(analyzer or self.analyzer, "last_timing", None) or {}
        with self._lock:
            if faces and "landmarks" in timing:
                self._landmarks.append(float(timing["landmarks"]))
            if faces and "align" in timing:
                self._align.append(float(timing["align"]))
            if not faces:
                self._counts["no_face"] += 1
        return frame, faces

    def process(
        self,
        frame: Frame,
        recognize: Recognize,
        *,
        analysed: list[Face] | None = None,
        extra_faces: int | None = None,
    ) -> tuple[Annotation, np.ndarray]:
        """Analyse `frame` (unless `analysed` gives its faces), take the recognizer's newest
        result, paint, and hand the painted frame to the display and every sink.

        `extra_faces`: faces beyond the limit seen when `analysed` was found (the live loop
        analyses the next frame while this one is painted, so the analyzer's own count may
        already be the next frame's)."""
        if analysed is None:
            frame, faces = self.analyse(frame)
        else:
            faces = analysed
        label_set = self.label_set
        self._t_capture[frame.frame_id] = frame.t_capture
        if len(self._t_capture) > 2000:  # a minute at 30 fps: older predictions are long gone
            for old in list(self._t_capture)[:1000]:
                del self._t_capture[old]
        if faces:
            self._absorb(recognize(frame, faces), label_set)
        message = self._face_condition(faces, extra_faces)
        present = {f.track_id for f in faces}
        with self._lock:
            for tid in [t for t in self._tracks if t not in present]:
                del self._tracks[tid]
            tracks = dict(self._tracks)
        self._smoother.retain(present)

        annotated = []
        for face in faces:
            pred = tracks.get(face.track_id)
            if pred is not None and pred.label_set != label_set:
                pred = None
            fresh = pred is not None and pred.frame_id == frame.frame_id
            age = 0.0
            if pred is not None and not fresh:
                t_pred = self._t_capture.get(pred.frame_id, frame.t_capture)
                age = max(0.0, (frame.t_capture - t_pred) * 1000.0)
            annotated.append(FaceAnnotation(face, pred, fresh, age))
        annotation = Annotation(
            frame=frame,
            faces=tuple(annotated),
            label_set=label_set,
            t_session=max(0.0, frame.t_capture - self.t_start),
            message=message,
        )
        self._deliver(annotation, frame.image, early=True)  # streams need no pixels
        painted = frozen_array(paint(annotation, show_aus=self.show_aus))
        with self._lock:
            self._c2p.append((time.monotonic() - frame.t_capture) * 1000.0)
            self._counts["painted"] += 1
        if self.display is not None:
            self.display.put(annotation, painted)
        self._deliver(annotation, painted)
        return annotation, painted

    def drain_display(self) -> None:
        """Deliver the pending display frame in the calling thread (offline)."""
        if self.display is not None:
            self.display.drain()

    def extra_faces(self) -> int:
        """Faces beyond the limit in the analyzer's last frame."""
        return int(getattr(self.analyzer, "last_dropped_faces", 0) or 0)

    def _face_condition(self, faces: list[Face], extra: int | None = None) -> str:
        """The per-frame condition painted on the frame; reported when it changes."""
        extra = self.extra_faces() if extra is None else extra
        if not faces:
            message = NO_FACE
        elif extra > 0:
            message = (
                f"{extra} more face{'s' if extra > 1 else ''} than the limit of {len(faces)}: "
                "only the largest are analysed"
            )
        else:
            message = ""
        if message != self._condition:
            self._condition = message
            self._report(StatusKind.FACES, message, faces=len(faces), extra_faces=extra)
        return message

    def _deliver(self, annotation: Annotation, image: np.ndarray, early: bool = False) -> None:
        """To the sinks of painted frames; `early`: to the `before_paint` ones, unpainted."""
        for sink in self.sinks:
            if bool(getattr(sink, "before_paint", False)) is not early:
                continue
            name = _sink_name(sink)
            try:
                ok = sink.submit(annotation, image)
            except Exception as exc:  # a broken sink is removed, the view keeps running
                log.exception("sink %s failed", name)
                self.remove_sink(sink)
                message = f"{name} stopped: {exc}"
                self._report(StatusKind.SINK_FAILED, message, Severity.ERROR, sink=name)
                continue
            if ok is False:
                with self._lock:
                    self._dropped[name] = self._dropped.get(name, 0) + 1

    def _absorb(self, result: RecognitionResult | None, label_set: LabelSet) -> None:
        """Take the predictions of a result newer than any taken before (smoothed)."""
        if result is None or result.frame_id <= self._absorbed_frame:
            return
        self._absorbed_frame = result.frame_id
        if result.label_set != label_set:
            return  # computed before a label-set change: not for this set
        for pred in result.predictions:
            p = self._smoother.update(pred)
            if self.threshold is not None:
                p = dataclasses.replace(p, threshold=float(self.threshold))
            with self._lock:
                self._tracks[p.track_id] = p

    # -- counters -------------------------------------------------------------------------
    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _count_replaced(self) -> None:
        self._count("replaced")

    def _count_delivered(self) -> None:
        if not self._display_reported:
            self.display_rate.tick()
            self._count("displayed")

    def frames_captured(self) -> int:
        with self._lock:
            return self._counts["captured"]

    def snapshot(self) -> dict[str, Any]:
        """The processor's part of `PipelineStats`, as keyword arguments."""
        with self._lock:
            c = self._counts
            return {
                "capture_fps": self.capture_rate.rate(),
                "display_fps": self.display_rate.rate(),
                "frames_captured": c["captured"],
                "frames_painted": c["painted"],
                "frames_displayed": c["displayed"],
                "display_replaced": c["replaced"],
                "frames_without_face": c["no_face"],
                "frames_dropped_by_sinks": dict(self._dropped),
                "capture_to_paint_ms_median": median(self._c2p),
                "landmarks_ms_median": median(self._landmarks),
                "align_ms_median": median(self._align),
            }


def _ensure_rgb(frame: Frame) -> Frame:
    """Sources convert to RGB; be defensive anyway (grey, BGRA, floats never crash)."""
    img = frame.image
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        return frame
    return dataclasses.replace(frame, image=frozen_array(np.ascontiguousarray(_as_rgb(img))))
