"""`LiveSession`: the one Qt-free composition of a live run that the window drives.

source -> analyzer -> recognizer worker -> smoothing -> painter -> display and recorder, plus
the decisions around them: the demo when a camera fails, the instant fallback when a model
raises, the recording's metadata; which analyzer to use for the crop size the model wants and
the face limit is in live_recognition.py.
The window subscribes to its typed events (events.py) instead of polling. docs/architecture.md
describes the threads and their policies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cer_desktop.capture.base import SourceError
from cer_desktop.contracts import Annotation, Recognizer, Severity, StatusEvent, StatusKind, status
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.pipeline import Pipeline, PipelineStats
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.pipeline.stats import EndReason
from cer_desktop.session.events import (
    SessionEnded,
    SessionEvent,
    SessionStarted,
    StatusReported,
)
from cer_desktop.session.factories import (
    AnalyzerCache,
    AnalyzerFactory,
    SourceFactory,
    default_analyzer_factory,
    default_source_factory,
)
from cer_desktop.session.live_recognition import LiveRecognition
from cer_desktop.session.recognizers import RecognizerSlot
from cer_desktop.session.recording import SessionRecording

log = logging.getLogger(__name__)

Subscriber = Callable[[SessionEvent], None]
DisplayCallback = Callable[[Annotation, np.ndarray], None]
DEMO = "demo"


class LiveSession(LiveRecognition):
    """A live session: start and stop runs on a source spec, change settings while running,
    swap the recognizer (live_recognition.py: the recognizer, its crop size, the analyzer and
    the face limit), record (recording.py). Thread-safe; never imports Qt.

    Events reach `subscribe()`rs from whatever thread caused them (the caller's, the capture
    thread, a short `cer-session-task` thread for ends and recording failures): a GUI hops to
    its own thread (a queued signal). `on_display(annotation, painted)` gets the newest painted
    frame on the display thread (policy NEWEST_ONLY). The session owns and closes the
    recognizer, the fallback and the analyzer at `shutdown()`.
    """

    def __init__(
        self,
        label_set: LabelSet,
        *,
        recognizer: Recognizer | None = None,
        recognizer_description: str = "",
        source_factory: SourceFactory | None = None,
        analyzer_factory: AnalyzerFactory | None = None,
        smoothing: float = 0.5,
        max_faces: int = 4,
        show_aus: bool = False,
        threshold: float = 0.0,
        on_display: DisplayCallback | None = None,
        sinks: Iterable[AnnotationSink] = (),
    ) -> None:
        self._lock = threading.RLock()  # start/stop/settings; never taken by run threads
        self._aux_lock = threading.Lock()  # subscribers and tasks: taken by run threads too
        self._subscribers: list[Subscriber] = []
        self._source_factory = source_factory or default_source_factory
        self._on_display = on_display
        self._sinks = tuple(sinks)  # consumers of every run besides a recording (benchmarks)
        self._label_set = label_set
        self._smoothing = smoothing
        self._max_faces = max_faces
        self._show_aus = show_aus
        self._pipeline: Pipeline | None = None
        self._stopping: list[Pipeline] = []  # stopped, their recognizer call may still run
        self._analyzers = AnalyzerCache(analyzer_factory or default_analyzer_factory)
        self._tasks: list[threading.Thread] = []
        self._source_spec = ""
        self._closed = False
        self.recording = SessionRecording(self)
        self._recognizers = RecognizerSlot(
            recognizer,
            recognizer_description,
            threshold,
            lambda message: self.report(StatusKind.RECOGNIZER_ERROR, message, Severity.ERROR),
            lambda event: self.emit(StatusReported(event)),
        )

    # -- events ---------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event from now on; returns the unsubscribe."""
        with self._aux_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._aux_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: SessionEvent) -> None:
        """Hand `event` to every subscriber (a failing subscriber is logged, never raised)."""
        with self._aux_lock:
            subscribers = list(self._subscribers)
        for cb in subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("a session subscriber failed")

    def report(
        self, kind: StatusKind, message: str, severity: Severity = Severity.INFO, **payload: Any
    ) -> StatusEvent:
        self.emit(StatusReported(event := status(kind, message, severity, **payload)))
        return event

    # -- state ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._pipeline is not None

    @property
    def source_spec(self) -> str:
        """The spec of the running (or last started) source."""
        return self._source_spec

    @property
    def stats(self) -> PipelineStats | None:
        """The running pipeline's stats, None when stopped."""
        p = self._pipeline
        return None if p is None else p.stats

    @property
    def source_fps(self) -> float:
        p = self._pipeline
        return float((p.source.fps if p is not None else None) or 30.0)

    @property
    def recognizer(self) -> Recognizer | None:
        return self._recognizers.current

    @property
    def recognizer_description(self) -> str:
        return self._recognizers.description

    @property
    def label_set(self) -> LabelSet:
        return self._label_set

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def reset_timings(self) -> None:
        """Start the run's timing medians afresh (a benchmark's warm-up is over)."""
        p = self._pipeline
        if p is not None:
            p.reset_timings()

    def note_displayed(self) -> None:
        """The view calls this when a frame reached the screen (display fps)."""
        p = self._pipeline
        if p is not None:
            p.note_displayed()

    # -- settings while running -----------------------------------------------------------
    def set_label_set(self, label_set: LabelSet) -> None:
        with self._lock:
            self._label_set = label_set
            if self._pipeline is not None:
                self._pipeline.set_label_set(label_set)

    def set_smoothing(self, strength: float) -> None:
        with self._lock:
            self._smoothing = strength
            if self._pipeline is not None:
                self._pipeline.set_smoothing(strength)

    def set_show_aus(self, on: bool) -> None:
        with self._lock:
            self._show_aus = bool(on)
            if self._pipeline is not None:
                self._pipeline.show_aus = bool(on)

    def set_threshold(self, threshold: float) -> None:
        self._recognizers.threshold = threshold  # for instant recognizers made from now on

    # -- start and stop -------------------------------------------------------------------
    def start(self, spec: str) -> bool:
        """Start a live run on `spec`; False (with a status event) when nothing could start.
        A source that cannot be opened is replaced by the demo (and said so)."""
        with self._lock:
            if self._closed:
                return False
            self.stop()
            self._finish_stopping()  # the recognizer is not made to serve two calls at once
            try:
                source = self._source_factory(spec)
            except ImportError as exc:
                self.report(
                    StatusKind.SOURCE_ERROR, f"Frame sources unavailable: {exc}", Severity.ERROR
                )
                return False
            except Exception as exc:  # whatever a source does, the session keeps running
                log.warning("opening %s failed", spec, exc_info=True)
                known = isinstance(exc, (SourceError, OSError, ValueError))
                detail = str(exc) if known else f"{type(exc).__name__}: {exc}"
                self.report(
                    StatusKind.SOURCE_ERROR,
                    f"Cannot open {spec}: {detail}",
                    Severity.ERROR,
                    source=spec,
                )
                return self._demo_instead(spec)
            analyzer = self._ensure_analyzer()
            recognizer = self._recognizers.current
            if analyzer is None or recognizer is None:
                if recognizer is None:
                    self.report(
                        StatusKind.RECOGNIZER_ERROR, "No recognizer available", Severity.ERROR
                    )
                source.close()
                return False
            fallback = self._recognizers.fallback_for(recognizer)
            pipeline = Pipeline(
                source,
                analyzer,
                recognizer,
                self._label_set,
                smoothing=self._smoothing,
                on_display=self._on_display,
                sinks=self._sinks,
                on_status=lambda event: self.emit(StatusReported(event)),
                fallback=fallback,
                show_aus=self._show_aus,
            )
            pipeline.status.on_end = lambda reason, event: self._on_end(
                pipeline, spec, reason, event
            )
            self._pipeline = pipeline
            self._source_spec = spec
            pipeline.start()
            name = getattr(recognizer, "name", "")
            event = status(StatusKind.SESSION_STARTED, "", source=spec, recognizer=name)
            self.emit(SessionStarted(spec, self._label_set.name, name, event))
            return True

    def stop(self) -> None:
        """Stop recording and the run. Returns without waiting for a recognizer call in
        progress (an LVLM's takes seconds on a CPU); the next `start`, `set_recognizer` or
        `shutdown` waits for it before the recognizer is used again or closed."""
        with self._lock:
            self.recording.stop()
            p, self._pipeline = self._pipeline, None
            if p is not None:
                p.stop(wait_for_recognizer=False)
                self._stopping.append(p)

    def shutdown(self) -> None:
        """Stop everything, join every thread, close recognizers and the analyzer. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.stop()
        for t in list(self._tasks):  # tasks take the lock: joined outside it
            t.join(30.0)
        with self._lock:
            self._finish_stopping()
            self._recognizers.close()
            self._analyzers.close()

    def _on_end(self, pipeline: Pipeline, spec: str, reason: EndReason, event: StatusEvent) -> None:
        # On the capture thread: the tidying takes the lock, so it runs on a task thread
        # (a stop() holding the lock may be joining this very thread).
        frames = pipeline.stats.frames_captured
        self.defer(lambda: self._after_end(pipeline, spec, reason, event, frames))

    def _after_end(
        self, pipeline: Pipeline, spec: str, reason: EndReason, event: StatusEvent, frames: int
    ) -> None:
        with self._lock:
            current = self._pipeline is pipeline
            if current:
                self.stop()
            # A camera that never delivered (no such index, busy device): show the demo.
            demo = (
                current
                and not self._closed
                and reason is EndReason.SOURCE_ERROR
                and frames == 0
                and spec.startswith("camera:")
            )
            self.emit(SessionEnded(reason, spec, frames, event, fell_back_to_demo=demo))
            if demo:
                self._demo_instead(spec, reason=event.message)

    def defer(self, fn: Callable[[], None]) -> None:
        """Run `fn` on a short-lived `cer-session-task` thread (joined by `shutdown`)."""
        t = threading.Thread(target=fn, name="cer-session-task", daemon=True)
        with self._aux_lock:
            self._tasks = [x for x in self._tasks if x.is_alive()]
            self._tasks.append(t)
        t.start()

    def _demo_instead(self, failed_spec: str, reason: str = "") -> bool:
        if failed_spec == DEMO:
            return False
        ok = self.start(DEMO)
        msg = f"Cannot open {failed_spec} — showing the built-in demo"
        if reason:
            msg += f" ({reason})"
        self.report(
            StatusKind.SOURCE_ERROR, msg, Severity.WARNING, source=failed_spec, instead=DEMO
        )
        return ok

    def _finish_stopping(self) -> None:
        """Wait for the recognizer calls of stopped runs to end."""
        while self._stopping:
            p = self._stopping.pop()
            if not p.wait_for_recognizer(60.0):
                log.warning("a stopped run's recognizer call did not end within 60 s")

    def pipeline_for_recording(self) -> Pipeline | None:
        """The running pipeline (for `SessionRecording`)."""
        return self._pipeline
