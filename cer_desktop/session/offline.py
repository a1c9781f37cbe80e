"""The offline session `cer annotate` drives: every frame of a source, recognised and handed
to sinks that may block (the recorder with BLOCK_WHEN_FULL), several recognizer requests in
flight when the recognizer serves them (a remote server), results in frame order."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cer_desktop.capture.base import FrameSource
from cer_desktop.contracts import Recognizer, StatusEvent
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.pipeline import Analyzer, Pipeline, concurrency_of
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.pipeline.stats import EndReason, PipelineStats

__all__ = ["EndReason", "PipelineStats", "concurrency_of", "run_offline"]


def run_offline(
    source: FrameSource,
    analyzer: Analyzer,
    recognizer: Recognizer,
    label_set: LabelSet,
    *,
    sinks: Iterable[AnnotationSink] = (),
    max_in_flight: int = 1,
    smoothing: float = 0.5,
    fallback: Recognizer | None = None,
    on_status: Callable[[StatusEvent], None] | None = None,
) -> PipelineStats:
    """Process every frame of `source` in the calling thread and return the run's stats
    (`end_reason` says whether the source was read to its end or failed).

    Several requests in flight: with `max_in_flight` > 1, up to
    `min(max_in_flight, concurrency_of(recognizer))` recognizer calls run at once on a small
    thread pool while this thread reads and analyses the next frames; a recognizer opts in
    with an integer attribute `max_concurrent_requests` (default 1: one call at a time, as the
    `Recognizer` protocol promises). Results are smoothed, painted and handed to `sinks`
    strictly in frame order, so the output is the same for every `max_in_flight`. The
    caller closes the analyzer, the recognizer and the sinks; the source is closed here.
    """
    pipeline = Pipeline(
        source,
        analyzer,
        recognizer,
        label_set,
        offline=True,
        sinks=sinks,
        smoothing=smoothing,
        fallback=fallback,
        on_status=on_status,
    )
    return pipeline.run(max_in_flight=max_in_flight)
