"""The Qt-free pipeline: source -> faces -> recognizer worker -> smoothing -> paint -> consumers.

Named policies per consumer (DESIGN.md):
- recognizer: `ONE_PENDING_NEWEST_WINS` (worker.py); results never painted older-over-newer;
- display (`on_display`): `DeliveryPolicy.NEWEST_ONLY`: a small display thread hands on the
  newest painted frame; frames it never got to are counted (`display_replaced`);
- sinks (recorder...): every painted frame is offered; live, `submit` must not block and
  returns False when the sink dropped the frame (counted per sink); offline (`run()`), sinks
  may block and every frame is processed.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError, SourceLost, SourceState
from cer_desktop.contracts import (
    Annotation,
    Face,
    FaceAnnotation,
    Frame,
    Prediction,
    Recognizer,
    Severity,
    StatusEvent,
    StatusKind,
    frozen_array,
    status,
)
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.painter import _as_rgb, paint
from cer_desktop.pipeline.sinks import AnnotationSink, DeliveryPolicy
from cer_desktop.pipeline.smoothing import Smoother
from cer_desktop.pipeline.worker import RecognitionRequest, RecognitionResult, RecognizerWorker

log = logging.getLogger(__name__)

DisplayCallback = Callable[[Annotation, np.ndarray], None]
StatusCallback = Callable[[StatusEvent], None]
RECONNECT_POLL_S = 0.25  # how often a lost live source is read again (it paces retries)

NO_FACE = "No face found"


class Analyzer(Protocol):
    """What the pipeline needs from `cer_desktop.vision.analyzer.FaceAnalyzer`."""

    def process(self, frame: Frame) -> list[Face]: ...


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """A snapshot of what the pipeline did, for the status bar, benchmarks and reports."""

    running: bool = False
    capture_fps: float = 0.0
    display_fps: float = 0.0
    frames_captured: int = 0
    frames_painted: int = 0
    frames_displayed: int = 0
    display_replaced: int = 0  # painted frames the display never showed (newest-only policy)
    frames_without_face: int = 0
    recognizer: str = ""
    recognizer_latency_ms: float = 0.0  # median over recent calls
    recognizer_latency_last_ms: float = 0.0
    recognizer_calls: int = 0
    recognizer_replaced: int = 0  # requests replaced by newer ones (newest-wins policy)
    recognizer_errors: int = 0
    fallback_calls: int = 0
    frames_dropped_by_sinks: Mapping[str, int] = field(default_factory=dict)
    capture_to_paint_ms_median: float = 0.0
    landmarks_ms_median: float = 0.0
    align_ms_median: float = 0.0
    last_error: str = ""
    message: str = ""
    error: StatusEvent | None = None  # the last error (its `kind` says what failed)

    @property
    def dropped_total(self) -> int:
        """Frames dropped by policy anywhere a frame is meant to be kept (sinks)."""
        return int(sum(self.frames_dropped_by_sinks.values()))


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            self._t.append(t)
            while self._t and t - self._t[0] > self.window_s:
                self._t.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._t and now - self._t[0] > self.window_s:
                self._t.popleft()
            if len(self._t) < 2:
                return 0.0
            span = max(self._t[-1] - self._t[0], 1e-6)
            return (len(self._t) - 1) / span


def _median(values: Iterable[float]) -> float:
    v = list(values)
    return float(statistics.median(v)) if v else 0.0


def _source_error(exc: Exception, *, unexpected: bool = False) -> StatusEvent:
    text = f"{type(exc).__name__}: {exc}" if unexpected else str(exc)
    return status(
        StatusKind.SOURCE_ERROR,
        f"Source error: {text}",
        Severity.ERROR,
        exception=type(exc).__name__,
    )


def _sink_name(sink: object) -> str:
    return getattr(sink, "name", None) or type(sink).__name__


class Pipeline:
    """Drives source -> analyzer -> recognizer -> smoother -> painter -> display and sinks.

    Live (`start()`/`stop()`): one capture thread reads the source (file sources are paced
    to their fps), analyses every frame, submits its faces to the recognizer worker without
    waiting, attaches the newest prediction per track (fresh when computed on this frame,
    else carried over), paints, and delivers. Offline (`run()`): the calling thread
    recognises every frame synchronously and sinks may block.

    Failures never escape a thread: a source error ends the loop with a message through
    `on_status`; a recognizer error is reported and, when `fallback` is given, that frame is
    answered by the fallback (e.g. the instant recognizer).

    The pipeline closes its source when it ends. Recognizers replaced with
    `set_recognizer()` are closed by the worker; the analyzer, the current recognizer, the
    fallback and the sinks stay the caller's to close.
    """

    def __init__(
        self,
        source: FrameSource,
        analyzer: Analyzer,
        recognizer: Recognizer,
        label_set: LabelSet,
        *,
        smoothing: float = 0.5,
        offline: bool = False,
        sinks: Iterable[AnnotationSink] = (),
        on_display: DisplayCallback | None = None,
        on_status: StatusCallback | None = None,
        fallback: Recognizer | None = None,
        show_aus: bool = False,
        threshold: float | None = None,
        pace_files: bool = True,
        fresh_wait_ms: float = 15.0,
    ) -> None:
        self.source = source
        self.analyzer = analyzer
        self.offline = offline
        self.on_display = on_display
        self.on_status = on_status
        self.show_aus = show_aus
        self.threshold = threshold
        self.pace_files = pace_files
        # When the worker is idle at submit time, wait this long for a fresh result so a fast
        # recognizer labels the very frame it saw; a busy worker is never waited for.
        self.fresh_wait_ms = fresh_wait_ms
        self._label_set = label_set
        self._smoother = Smoother(smoothing)
        self._sinks: list[AnnotationSink] = list(sinks)
        self._sinks_lock = threading.Lock()
        self._worker = RecognizerWorker(
            recognizer, fallback=fallback, on_error=self._on_recognizer_error
        )
        self._tracks: dict[int, Prediction] = {}
        self._absorbed_frame = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._display = _DisplayThread(self) if on_display is not None else None
        self._lock = threading.Lock()
        self._capture_rate = _Rate()
        self._display_rate = _Rate()
        self._display_reported = False
        # Recent per-frame timings (a few minutes at 30 fps) for medians.
        self._c2p: deque[float] = deque(maxlen=6000)
        self._landmarks: deque[float] = deque(maxlen=6000)
        self._align: deque[float] = deque(maxlen=6000)
        self._captured = 0
        self._painted = 0
        self._displayed = 0
        self._display_replaced = 0
        self._no_face = 0
        self._dropped: dict[str, int] = {}
        self._last_error = ""
        self._error: StatusEvent | None = None
        self._message = ""
        self._condition = ""
        self._t_start = 0.0
        self._running = False
        self._started = False

    # -- configuration (thread-safe) ------------------------------------------------------
    @property
    def label_set(self) -> LabelSet:
        return self._label_set

    def set_label_set(self, label_set: LabelSet) -> None:
        """Score over `label_set` from the next frame on (smoothing state restarts)."""
        with self._lock:
            self._label_set = label_set
            self._tracks.clear()
        self._smoother.reset()

    def set_smoothing(self, strength: float) -> None:
        """0 = off .. 0.99 = very smooth."""
        self._smoother.strength = strength

    def set_threshold(self, threshold: float | None) -> None:
        """Below this top probability faces show "uncertain" (None = the recognizer's own)."""
        self.threshold = threshold

    def set_recognizer(self, recognizer: Recognizer) -> None:
        """Use `recognizer` from the next request on; the replaced one is closed by the worker."""
        self._worker.set_recognizer(recognizer)

    def set_fallback(self, fallback: Recognizer | None) -> None:
        """The recognizer that answers when the main one raises (None = no fallback)."""
        self._worker.set_fallback(fallback)

    @property
    def recognizer(self) -> Recognizer:
        return self._worker.recognizer

    def add_sink(self, sink: AnnotationSink) -> None:
        with self._sinks_lock:
            if sink not in self._sinks:
                self._sinks.append(sink)

    def remove_sink(self, sink: AnnotationSink) -> None:
        with self._sinks_lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    @property
    def sinks(self) -> tuple[AnnotationSink, ...]:
        with self._sinks_lock:
            return tuple(self._sinks)

    def reset_timings(self) -> None:
        """Start the timing medians afresh (e.g. after a benchmark's warm-up)."""
        with self._lock:
            self._c2p.clear()
            self._landmarks.clear()
            self._align.clear()

    def note_displayed(self) -> None:
        """The consumer of `on_display` calls this when a frame really reached the screen, so
        display fps measures what the user sees (else on_display deliveries are counted)."""
        self._display_reported = True
        self._display_rate.tick()
        with self._lock:
            self._displayed += 1

    # -- live -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the live loop on its own thread (once)."""
        if self.offline:
            raise RuntimeError("an offline pipeline is driven by run(), not start()")
        if self._started:
            raise RuntimeError("a pipeline starts once; make a new one for a new run")
        self._started = True
        self._running = True
        self._worker.start()
        if self._display is not None:
            self._display.start()
        self._thread = threading.Thread(target=self._live_loop, name="cer-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0, *, wait_for_recognizer: bool = True) -> None:
        """Stop the loop, the worker and the display thread, and join them. Safe to call twice.

        With `wait_for_recognizer=False` a recognizer call in progress (an LVLM's can take
        seconds on a CPU) is not waited for: the worker ends after it by itself, its result is
        not shown, and `wait_for_recognizer()` joins it before the recognizer is used or closed
        again.
        """
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("capture thread did not stop within %.0f s", timeout)
        self._worker.stop(wait=wait_for_recognizer)
        if self._display is not None:
            self._display.stop()
        self._close_source()
        self._running = False

    def wait_for_recognizer(self, timeout: float | None = 60.0) -> bool:
        """Join the recognizer worker after `stop`; True when it has ended."""
        return self._worker.join(timeout)

    @property
    def running(self) -> bool:
        return self._running

    def join(self, timeout: float | None = None) -> None:
        """Wait for the live loop to end by itself (end of a file, source error), and for the
        recognizer's last call."""
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._worker.join(timeout)

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """Every thread the pipeline started (for tests that check nothing is left behind)."""
        ts: list[threading.Thread] = [self._worker._thread]
        if self._thread is not None:
            ts.append(self._thread)
        if self._display is not None:
            ts.append(self._display.thread)
        return tuple(ts)

    def _live_loop(self) -> None:
        try:
            if not self._open_source():
                return
            fps = self.source.fps
            pace = (not self.source.is_live) and self.pace_files and bool(fps and fps > 0)
            t_first = time.monotonic()
            n = 0
            lost_at: float | None = None  # a live source gone (camera unplugged) since then
            while not self._stop.is_set():
                if pace:
                    delay = t_first + n / float(fps or 1.0) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                try:
                    frame = self.source.read()
                except SourceLost as exc:
                    # Keep running and retry: the source reconnects by itself (camera.py).
                    if lost_at is None:
                        lost_at = time.monotonic()
                        self._source_gap(
                            status(
                                StatusKind.SOURCE_LOST,
                                f"{exc} — waiting for it to come back",
                                Severity.WARNING,
                            )
                        )
                    if self._stop.wait(RECONNECT_POLL_S):
                        break
                    continue
                except SourceError as exc:
                    self._fail(_source_error(exc))
                    break
                except Exception as exc:  # a broken source must not kill the thread silently
                    self._fail(_source_error(exc, unexpected=True))
                    break
                if frame is None:
                    self._status(status(StatusKind.SOURCE_ENDED, "End of the source"))
                    break
                if lost_at is not None:
                    gap = time.monotonic() - lost_at
                    lost_at = None
                    self._source_gap(
                        status(
                            StatusKind.SOURCE_RESTORED,
                            f"{self.source.description} is back after {gap:.1f} s",
                            gap_s=round(gap, 3),
                        )
                    )
                n += 1
                try:
                    self._process(frame, live=True)
                except Exception as exc:
                    log.exception("frame %s failed", frame.frame_id)
                    self._fail(
                        status(
                            StatusKind.FRAME_FAILED,
                            f"Frame {frame.frame_id} failed: {type(exc).__name__}: {exc}",
                            Severity.ERROR,
                            frame_id=frame.frame_id,
                            exception=type(exc).__name__,
                        )
                    )
        finally:
            self._close_source()
            # ends after its call in progress; stop() or join() wait for it where asked to
            self._worker.stop(wait=False)
            if self._display is not None:
                self._display.stop(join=False)
            self._running = False

    # -- offline --------------------------------------------------------------------------
    def run(self) -> PipelineStats:
        """Process every frame of the source in the calling thread; sinks may block.

        Returns the final stats; a source error ends the run with `last_error` set.
        """
        self._running = True
        try:
            if not self._open_source():
                return self.stats
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except SourceError as exc:
                    self._fail(_source_error(exc))
                    break
                except Exception as exc:
                    self._fail(_source_error(exc, unexpected=True))
                    break
                if frame is None:
                    break
                self._process(frame, live=False)
                if self._display is not None:
                    self._deliver_display_sync()
        finally:
            self._close_source()
            self._running = False
        return self.stats

    def request_stop(self) -> None:
        """Ask a running `run()` or live loop to stop after the current frame (no join)."""
        self._stop.set()

    # -- the work per frame ---------------------------------------------------------------
    def _open_source(self) -> bool:
        try:
            if self.source.state is SourceState.IDLE:
                self.source.open()
            elif self.source.state is not SourceState.RUNNING:
                self._fail(
                    status(
                        StatusKind.SOURCE_ERROR,
                        f"Source error: {self.source.description} is already closed",
                        Severity.ERROR,
                    )
                )
                return False
        except SourceError as exc:
            self._fail(_source_error(exc))
            return False
        except Exception as exc:
            self._fail(_source_error(exc, unexpected=True))
            return False
        self._t_start = time.monotonic()
        return True

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.exception("closing the source failed")

    def _process(self, frame: Frame, *, live: bool) -> tuple[Annotation, np.ndarray]:
        frame = _ensure_rgb(frame)
        self._capture_rate.tick(frame.t_capture)
        with self._lock:
            self._captured += 1
            label_set = self._label_set
        try:
            faces = list(self.analyzer.process(frame))
        except Exception as exc:  # the analyzer failing on one frame is not fatal
            log.exception("face analysis failed")
            self._fail(
                status(
                    StatusKind.FRAME_FAILED,
                    f"Face analysis failed: {type(exc).__name__}: {exc}",
                    Severity.WARNING,
                    frame_id=frame.frame_id,
                    exception=type(exc).__name__,
                ),
                stop=False,
            )
            faces = []
        timing = getattr(self.analyzer, "last_timing", None) or {}
        with self._lock:
            if faces and "landmarks" in timing:
                self._landmarks.append(float(timing["landmarks"]))
            if faces and "align" in timing:
                self._align.append(float(timing["align"]))

        if faces:
            request = RecognitionRequest(frame.frame_id, tuple(faces), label_set)
            if live:
                was_idle = self._worker.idle()
                self._worker.submit(request)
                if was_idle and self.fresh_wait_ms > 0:
                    self._worker.wait_result(frame.frame_id, self.fresh_wait_ms / 1000.0)
                self._absorb(self._worker.latest(), label_set)
            else:
                self._absorb(self._worker.run_sync(request), label_set)
        else:
            with self._lock:
                self._no_face += 1
        # A per-frame condition, painted on the frame and sent to on_status when it changes.
        extra = int(getattr(self.analyzer, "last_dropped_faces", 0) or 0)
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
            self._status(status(StatusKind.FACES, message, faces=len(faces), over_limit=extra))

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
            annotated.append(FaceAnnotation(face, pred, fresh))
        annotation = Annotation(
            frame=frame,
            faces=tuple(annotated),
            label_set=label_set,
            t_session=max(0.0, frame.t_capture - self._t_start),
            message=message,
        )
        painted = frozen_array(paint(annotation, show_aus=self.show_aus))
        with self._lock:
            self._c2p.append((time.monotonic() - frame.t_capture) * 1000.0)
            self._painted += 1

        if self._display is not None:
            self._display.put(annotation, painted)
        for sink in self.sinks:
            try:
                ok = sink.submit(annotation, painted)
            except Exception as exc:  # a broken sink is removed, the view keeps running
                log.exception("sink %s failed", _sink_name(sink))
                self.remove_sink(sink)
                self._fail(
                    status(
                        StatusKind.SINK_FAILED,
                        f"{_sink_name(sink)} stopped: {exc}",
                        Severity.ERROR,
                        sink=_sink_name(sink),
                        exception=type(exc).__name__,
                    ),
                    stop=False,
                )
                continue
            if ok is False:
                with self._lock:
                    name = _sink_name(sink)
                    self._dropped[name] = self._dropped.get(name, 0) + 1
        return annotation, painted

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

    def _deliver_display_sync(self) -> None:
        assert self._display is not None
        self._display.drain()

    # -- messages -------------------------------------------------------------------------
    def _status(self, event: StatusEvent) -> None:
        with self._lock:
            self._message = event.message
        if self.on_status is not None:
            try:
                self.on_status(event)
            except Exception:
                log.exception("on_status callback failed")

    def _source_gap(self, event: StatusEvent) -> None:
        """Tell the user and every sink that notes gaps (the recorder logs them as events)."""
        self._status(event)
        for sink in self.sinks:
            note = getattr(sink, "note_status", None)
            if note is not None:
                try:
                    note(event)
                except Exception:
                    log.exception("sink %s could not note %s", _sink_name(sink), event.kind)

    def _fail(self, event: StatusEvent, *, stop: bool = True) -> None:
        with self._lock:
            self._last_error = event.message
            self._error = event
        log.warning("%s", event.message)
        self._status(event)

    def _on_recognizer_error(self, exc: Exception, name: str) -> None:
        has_fb = self._worker.fallback is not None
        fb = " — using the fallback recognizer" if has_fb else ""
        self._fail(
            status(
                StatusKind.RECOGNIZER_ERROR,
                f"Recognizer {name} failed: {exc}{fb}",
                Severity.ERROR,
                recognizer=name,
                fallback=has_fb,
                exception=type(exc).__name__,
            ),
            stop=False,
        )

    # -- stats ----------------------------------------------------------------------------
    @property
    def stats(self) -> PipelineStats:
        w = self._worker.stats
        with self._lock:
            return PipelineStats(
                running=self._running,
                capture_fps=self._capture_rate.rate(),
                display_fps=self._display_rate.rate(),
                frames_captured=self._captured,
                frames_painted=self._painted,
                frames_displayed=self._displayed,
                display_replaced=self._display_replaced,
                frames_without_face=self._no_face,
                recognizer=w.recognizer,
                recognizer_latency_ms=w.latency_ms_median,
                recognizer_latency_last_ms=w.latency_ms_last,
                recognizer_calls=w.calls,
                recognizer_replaced=w.replaced,
                recognizer_errors=w.errors,
                fallback_calls=w.fallback_calls,
                frames_dropped_by_sinks=dict(self._dropped),
                capture_to_paint_ms_median=_median(self._c2p),
                landmarks_ms_median=_median(self._landmarks),
                align_ms_median=_median(self._align),
                last_error=self._last_error,
                message=self._message,
                error=self._error,
            )

    def stats_dict(self) -> dict[str, Any]:
        """`stats` as a plain dict (for JSON)."""
        s = self.stats
        d = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
        d["frames_dropped_by_sinks"] = dict(s.frames_dropped_by_sinks)
        return d


class _DisplayThread:
    """Hands the newest painted frame to `on_display` (policy NEWEST_ONLY)."""

    policy = DeliveryPolicy.NEWEST_ONLY

    def __init__(self, pipeline: Pipeline) -> None:
        self._p = pipeline
        self._cond = threading.Condition()
        self._item: tuple[Annotation, np.ndarray] | None = None
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name="cer-display", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, join: bool = True) -> None:
        with self._cond:
            self._stop = True
            self._item = None
            self._cond.notify_all()
        if join and self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(5.0)

    def put(self, annotation: Annotation, painted: np.ndarray) -> None:
        with self._cond:
            if self._item is not None:
                with self._p._lock:
                    self._p._display_replaced += 1
            self._item = (annotation, painted)
            self._cond.notify_all()

    def drain(self) -> None:
        """Deliver the pending frame in the calling thread (offline use)."""
        with self._cond:
            item, self._item = self._item, None
        if item is not None:
            self._deliver(item)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._item is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._item = self._item, None
            if item is not None:  # always: the wait ends on an item or on stop
                self._deliver(item)

    def _deliver(self, item: tuple[Annotation, np.ndarray]) -> None:
        cb = self._p.on_display
        if cb is None:
            return
        try:
            cb(*item)
        except Exception:
            log.exception("on_display callback failed")
            return
        if not self._p._display_reported:
            self._p._display_rate.tick()
            with self._p._lock:
                self._p._displayed += 1


def _ensure_rgb(frame: Frame) -> Frame:
    """Sources convert to RGB; be defensive anyway (grey, BGRA, floats never crash)."""
    img = frame.image
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        return frame
    return dataclasses.replace(frame, image=frozen_array(np.ascontiguousarray(_as_rgb(img))))
