"""The Qt-free pipeline engine: source -> faces -> recognizer worker -> smoothing -> paint -> consumers.

`cer_desktop.session.LiveSession` composes it (sources, analyzer reuse, fallbacks, recording);
docs/architecture.md describes the data flow and the named policy of every consumer:
- recognizer: `RequestPolicy.ONE_PENDING_NEWEST_WINS` live (worker.py), results never painted older-over-newer;
  offline, every frame is recognised, up to `max_in_flight` requests at once, in frame order;
- display (`on_display`): `DeliveryPolicy.NEWEST_ONLY` (display.py), replaced frames counted;
- sinks (recorder...): every painted frame is offered; live, `submit` must not block and
  returns False when the sink dropped the frame (counted per sink); offline, sinks may block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from cer_desktop.capture.base import FrameSource, SourceError, SourceState
from cer_desktop.contracts import Face, Frame, Recognizer, Severity, StatusEvent, StatusKind
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline import gc_pause
from cer_desktop.pipeline.analysis_lanes import AnalysisLanes
from cer_desktop.pipeline.display import DisplayCallback
from cer_desktop.pipeline.inflight import InOrderRequests, concurrency_of
from cer_desktop.pipeline.processor import NO_FACE, Analyzer, FrameProcessor
from cer_desktop.pipeline.render_stage import RenderStage
from cer_desktop.pipeline.results import RecognitionResult
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.pipeline.source_gap import SourceGap, read_through_loss
from cer_desktop.pipeline.stats import EndReason, PipelineStats, RunStatus
from cer_desktop.pipeline.worker import RecognitionRequest, RecognizerWorker

__all__ = ["NO_FACE", "Analyzer", "EndReason", "Pipeline", "PipelineStats", "concurrency_of"]

log = logging.getLogger(__name__)

StatusCallback = Callable[[StatusEvent], None]
EndCallback = Callable[[EndReason, StatusEvent], None]


class Pipeline:
    """Drives source -> analyzer -> recognizer -> smoother -> painter -> display and sinks.

    Live (`start()`/`stop()`): a capture thread reads the source (files paced to their fps)
    and analyses each frame (or hands it to analysis lanes, analysis_lanes.py); in frame
    order, faces go to the recognizer worker without waiting, and the render stage
    (render_stage.py) attaches the newest prediction per track, paints and delivers.
    Offline (`run()`): the calling thread reads and analyses every frame, every frame is
    recognised, and sinks may block.

    Failures never escape a thread: they reach `on_status` as typed `StatusEvent`s. A source
    error ends the run; `on_end(reason, event)` is called once when a run ends, whatever the
    reason (`EndReason`). A recognizer error is reported and, when `fallback` is given, that
    frame is answered by the fallback (e.g. the instant recognizer).

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
        on_end: EndCallback | None = None,
        fallback: Recognizer | None = None,
        show_aus: bool = False,
        threshold: float | None = None,
        pace_files: bool = True,
        fresh_wait_ms: float = 15.0,
    ) -> None:
        self.source = source
        self.offline = offline
        self.status = RunStatus(on_status, on_end)
        self.pace_files = pace_files
        # When the worker is idle at submit time, wait this long for a fresh result so a fast
        # recognizer labels the very frame it saw; a busy worker is never waited for.
        self.fresh_wait_ms = fresh_wait_ms
        self.processor = FrameProcessor(
            analyzer,
            label_set,
            self.status.report,
            smoothing=smoothing,
            sinks=sinks,
            on_display=on_display,
            show_aus=show_aus,
            threshold=threshold,
        )
        self._worker = RecognizerWorker(
            recognizer, fallback=fallback, on_error=self._on_recognizer_error
        )
        self._stop = threading.Event()
        # live: frame N is painted and delivered on "cer-render" while N+1 is analysed
        self._render = RenderStage(self._render_live, self.status.frame_failed)
        self._lanes: AnalysisLanes | None = None  # live, with an analyzer of several lanes
        in_order = None if offline else self._in_order
        self._gap = SourceGap(self.status.report, lambda: self.processor.sinks, in_order)
        self._thread: threading.Thread | None = None
        self._running = self._started = False

    # -- configuration (thread-safe) ------------------------------------------------------
    @property
    def analyzer(self) -> Analyzer:
        return self.processor.analyzer

    @property
    def label_set(self) -> LabelSet:
        return self.processor.label_set

    def set_label_set(self, label_set: LabelSet) -> None:
        """Score over `label_set` from the next frame on (smoothing state restarts)."""
        self.processor.set_label_set(label_set)

    @property
    def smoothing(self) -> float:
        return self.processor.smoothing

    def set_smoothing(self, strength: float) -> None:
        """0 = off .. 0.99 = very smooth."""
        self.processor.set_smoothing(strength)

    @property
    def show_aus(self) -> bool:
        return self.processor.show_aus

    @show_aus.setter
    def show_aus(self, on: bool) -> None:
        self.processor.show_aus = bool(on)

    def set_threshold(self, threshold: float | None) -> None:
        """Below this top probability faces show "uncertain" (None = the recognizer's own)."""
        self.processor.threshold = threshold

    def set_recognizer(self, recognizer: Recognizer) -> None:
        """Use `recognizer` from the next request on; the replaced one is closed by the worker."""
        self._worker.set_recognizer(recognizer)

    def set_fallback(self, fallback: Recognizer | None) -> None:
        """The recognizer that answers when the main one raises (None = no fallback)."""
        self._worker.set_fallback(fallback)

    @property
    def recognizer(self) -> Recognizer:
        return self._worker.recognizer

    def add_sink(self, sink: AnnotationSink, *, first: bool = False) -> None:
        """Deliver painted frames to `sink` too (`first`: before the sinks already there)."""
        self.processor.add_sink(sink, first=first)

    def remove_sink(self, sink: AnnotationSink) -> None:
        self.processor.remove_sink(sink)

    @property
    def sinks(self) -> tuple[AnnotationSink, ...]:
        return self.processor.sinks

    def reset_timings(self) -> None:
        """Start the timing medians afresh (e.g. after a benchmark's warm-up)."""
        self.processor.reset_timings()

    def note_displayed(self) -> None:
        """The consumer of `on_display` calls this when a frame really reached the screen, so
        display fps measures what the user sees (else on_display deliveries are counted)."""
        self.processor.note_displayed()

    # -- live -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the live loop on its own thread (once)."""
        if self.offline:
            raise RuntimeError("an offline pipeline is driven by run(), not start()")
        if self._started:
            raise RuntimeError("a pipeline starts once; make a new one for a new run")
        self._started = True
        self._running = True
        gc_pause.hold()  # no full garbage collection stalls while it runs (released at its end)
        self._worker.start()
        if self.processor.display is not None:
            self.processor.display.start()
        self._render.start()
        if (n := self.processor.lanes()) > 1:  # frames N and N+1 analysed at once
            self._lanes = AnalysisLanes(self.processor, self._analysed, self.status.frame_failed, n)
            self._lanes.start()
        self._thread = threading.Thread(target=self._live_loop, name="cer-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0, *, wait_for_recognizer: bool = True) -> None:
        """Stop the loop, the worker and the display thread, and join them. Safe to call twice.

        With `wait_for_recognizer=False` a recognizer call in progress (an LVLM's can take
        seconds on a CPU) is not waited for: the worker ends after it by itself, its result is
        not shown, and `wait_for_recognizer()` joins it before the recognizer is reused.
        """
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("capture thread did not stop within %.0f s", timeout)
        self._worker.stop(wait=wait_for_recognizer)
        if self.processor.display is not None:
            self.processor.display.stop()
        self._close_source()
        self._running = False

    def wait_for_recognizer(self, timeout: float | None = 60.0) -> bool:
        """Join the recognizer worker after `stop`; True when it has ended."""
        return self._worker.join(timeout)

    @property
    def running(self) -> bool:
        return self._running

    def join(self, timeout: float | None = None) -> None:
        """Wait for the live loop to end by itself (end of a file, source error) and the worker."""
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._worker.join(timeout)

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """Every thread the pipeline started (for tests that check nothing is left behind)."""
        ts: list[threading.Thread] = [self._worker._thread]
        if self._thread is not None:
            ts += [self._thread, self._render.thread, *(self._lanes.threads if self._lanes else ())]
        if self.processor.display is not None:
            ts.append(self.processor.display.thread)
        return tuple(ts)

    def _live_loop(self) -> None:
        self.processor.warm_up()  # before the source opens: no gap after its first frame
        gc_pause.freeze_new()  # the face model is as long-lived as the run
        try:
            if not self._open_source():
                return
            fps = self.source.fps
            pace = (not self.source.is_live) and self.pace_files and bool(fps and fps > 0)
            t_first = time.monotonic()
            n = 0
            while not self._stop.is_set():
                if pace:
                    delay = t_first + n / float(fps or 1.0) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                frame = self._next_frame()
                if frame is None:
                    break
                n += 1
                gc_pause.tick()
                if self._lanes is not None:
                    self._lanes.put(frame, stop=self._stop)
                    continue
                try:
                    self._analysed(*self.processor.analyse(frame), self.processor.extra_faces())
                except Exception as exc:  # one bad frame never ends the live view
                    self.status.frame_failed(exc, (frame,))
        finally:
            self._close_source()
            if self._lanes is not None:
                self._lanes.finish()
            self._render.finish()  # the frames already read are painted and delivered
            # ends after its call in progress; stop() or join() wait for it where asked to
            self._worker.stop(wait=False)
            if self.processor.display is not None:
                self.processor.display.stop(join=False)
            gc_pause.release()
            self._running = False
            self.status.ended()

    def _analysed(self, frame: Frame, faces: list[Face], extra: int) -> None:
        """Submit the faces (in frame order) and queue the frame for painting; the painter
        waits for the result when the worker was idle."""
        waited = False
        if faces:
            waited = self._worker.idle() and self.fresh_wait_ms > 0
            self._worker.submit(RecognitionRequest(frame.frame_id, tuple(faces), self.label_set))
        self._render.put(frame, faces, extra, waited, stop=self._stop)

    def _in_order(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the render stage after the frames read before it are delivered."""
        if self._lanes is None:
            return self._render.call(fn)
        self._lanes.call(lambda: self._render.call(fn))

    def _render_live(self, frame: Frame, faces: list[Face], extra: int, wait: bool) -> None:
        def recognize(frame: Frame, _faces: list[Face]) -> RecognitionResult | None:
            if wait:
                self._worker.wait_result(frame.frame_id, self.fresh_wait_ms / 1000.0)
            return self._worker.results.up_to(frame.frame_id)  # never a later frame's

        self.processor.process(frame, recognize, analysed=faces, extra_faces=extra)

    # -- offline --------------------------------------------------------------------------
    def run(self, *, max_in_flight: int = 1) -> PipelineStats:
        """Process every frame of the source in the calling thread; sinks may block.

        Every frame is recognised. With `max_in_flight` > 1 and a recognizer that serves
        concurrent calls (`concurrency_of(recognizer)` > 1, e.g. a remote server), up to that
        many requests run at once (inflight.py) while the calling thread reads and analyses
        the next frames; results are absorbed, painted and handed to the sinks strictly in
        frame order, so the output equals that of `max_in_flight=1`. Returns the final stats;
        a source error ends the run with `end_reason` SOURCE_ERROR and `last_error` set.
        """
        self._running = True
        in_flight = min(int(max_in_flight), concurrency_of(self.recognizer))
        requests = InOrderRequests(self._worker.run_sync, in_flight)
        try:
            if not self._open_source():
                return self.stats
            while not self._stop.is_set():
                frame = self._next_frame()
                if frame is None:
                    break
                frame, faces = self.processor.analyse(frame)
                request = None
                if faces:
                    request = RecognitionRequest(frame.frame_id, tuple(faces), self.label_set)
                for done in requests.submit(frame, faces, request):
                    self._paint_offline(*done)
            for done in requests.drain():
                if self._stop.is_set():
                    break
                self._paint_offline(*done)
        finally:
            requests.close()
            self._close_source()
            self._running = False
            self.status.ended()
        return self.stats

    def _paint_offline(self, frame: Frame, faces: list[Face], result: Any) -> None:
        self.processor.process(frame, lambda *_: result, analysed=faces)
        self.processor.drain_display()

    def request_stop(self) -> None:
        """Ask a running `run()` or live loop to stop after the current frame (no join)."""
        self._stop.set()

    # -- the source -----------------------------------------------------------------------
    def _open_source(self) -> bool:
        try:
            if self.source.state is SourceState.IDLE:
                self.source.open()
            elif self.source.state is not SourceState.RUNNING:
                raise SourceError(f"{self.source.description} is already closed")
        except Exception as exc:  # whatever a source raises, the run ends with a message
            self._source_failed(exc)
            return False
        self.processor.t_start = time.monotonic()
        return True

    def _next_frame(self) -> Frame | None:
        """The next frame; None at the end of the source or after a source error (both are
        reported and set the end reason)."""
        try:
            frame = read_through_loss(self.source, self._stop, self._gap)
        except Exception as exc:  # a broken source must not kill the thread silently
            self._source_failed(exc)
            return None
        if frame is None and not self._stop.is_set():
            self.status.set_end(
                EndReason.END_OF_SOURCE, StatusKind.SOURCE_ENDED, "End of the source"
            )
        return frame

    def _source_failed(self, exc: BaseException) -> None:
        detail = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        lost = self.source.is_live and self.processor.frames_captured() > 0
        kind = StatusKind.SOURCE_LOST if lost else StatusKind.SOURCE_ERROR
        self.status.set_end(EndReason.SOURCE_ERROR, kind, f"Source error: {detail}", Severity.ERROR)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.exception("closing the source failed")

    # -- status and stats -----------------------------------------------------------------
    def _on_recognizer_error(self, exc: Exception, name: str) -> None:
        self.status.recognizer_failed(exc, name, self._worker.fallback is not None)

    @property
    def stats(self) -> PipelineStats:
        snapshots = (self.status.snapshot(), self.processor.snapshot())
        return PipelineStats.compose(self._running, self._worker.stats, *snapshots)

    def stats_dict(self) -> dict[str, Any]:
        """`stats` as a plain dict (for JSON)."""
        return self.stats.as_dict()
