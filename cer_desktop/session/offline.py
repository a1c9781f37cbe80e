"""`OfflineSession`: the composition of an offline run that `cer annotate` and the annotate
benches drive. Every frame of a source is analysed and recognised, and handed to sinks that
may block (the recording's policy is BLOCK_WHEN_FULL); several recognizer requests are in
flight when the recognizer serves them (a remote server), results in frame order.

It decides what `LiveSession` decides for a live run, with the same helpers: the analyzer's
crop size from the recognizer (`crop_size_for`), the recording's manifest from what really
runs (`manifest_fields`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cer_desktop.capture.base import FrameSource
from cer_desktop.contracts import Recognizer, StatusEvent
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.pipeline import Pipeline, concurrency_of
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.pipeline.stats import EndReason, PipelineStats
from cer_desktop.session.factories import AnalyzerFactory
from cer_desktop.session.recognizers import crop_size_for, manifest_fields

__all__ = ["EndReason", "OfflineSession", "PipelineStats", "concurrency_of"]

log = logging.getLogger(__name__)


def _offline_analyzer(static_images: bool) -> AnalyzerFactory:
    def make(max_faces: int, crop_size: int) -> Any:
        from cer_desktop.vision.analyzer import FaceAnalyzer

        return FaceAnalyzer(max_faces=max_faces, crop_size=crop_size, static_images=static_images)

    return make


class OfflineSession:
    """One source, every frame, in the calling thread.

    Args:
        source: the frames (closed by `run`).
        recognizer: answers every frame; the caller owns and closes it (one model may serve
            many inputs).
        label_set: the labels to score.
        max_faces: faces analysed per frame.
        smoothing: EMA strength over a face's results (0 for independent stills: the tracker
            may give faces of consecutive photos one track id).
        static_images: the analyzer reads each frame on its own (independent stills).
        analyzer_factory: `(max_faces, crop_size) -> analyzer` (tests pass fakes).
        fallback, on_status: as for `Pipeline`.

    The session owns the analyzer and the recording (`record`) and closes them in `close`.
    """

    def __init__(
        self,
        source: FrameSource,
        recognizer: Recognizer,
        label_set: LabelSet,
        *,
        max_faces: int = 4,
        smoothing: float = 0.5,
        static_images: bool = False,
        analyzer_factory: AnalyzerFactory | None = None,
        fallback: Recognizer | None = None,
        on_status: Callable[[StatusEvent], None] | None = None,
    ) -> None:
        self.source = source
        self.recognizer = recognizer
        self.label_set = label_set
        self.smoothing = smoothing
        self._fallback = fallback
        self._on_status = on_status
        factory = analyzer_factory or _offline_analyzer(static_images)
        # The crop the model was trained on (adapter metadata), 224 otherwise.
        self.analyzer: Any = factory(max_faces, crop_size_for(recognizer))
        self.recording: Any = None  # the SessionRecorder of `record`, if any

    def record(
        self,
        folder: str | Path,
        *,
        record_raw: bool = False,
        manifest: dict[str, Any] | None = None,
    ) -> Any:
        """Record the run into `folder` (a `SessionRecorder` that blocks instead of dropping);
        its manifest says what really runs (the recognizer's fields) plus `manifest`.
        Raises `RecordingError` when the folder cannot be written."""
        from cer_desktop.recording.recorder import SessionRecorder

        fields = {**(manifest or {})}
        for key, value in manifest_fields(self.recognizer, self.label_set).items():
            fields.setdefault(key, value)  # the caller's own words win (the input's source)
        self.recording = SessionRecorder(
            folder,
            record_raw=record_raw,
            fps=self.source.fps or 30.0,
            block=True,
            manifest_extra=fields,
        )
        return self.recording

    def run(
        self,
        *,
        sinks: Iterable[AnnotationSink] = (),
        max_in_flight: int | None = None,
        recognizer: Recognizer | None = None,
    ) -> PipelineStats:
        """Process every frame and return the run's stats (`end_reason` says whether the
        source was read to its end or failed). The recording, if any, gets every frame
        first, then `sinks`.

        Several requests in flight: up to `min(max_in_flight, concurrency_of(recognizer))`
        recognizer calls run at once on a small thread pool (default: as many as the
        recognizer serves, e.g. a remote server's `--concurrency`); a recognizer opts in with
        an integer attribute `max_concurrent_requests`. Results are smoothed, painted and
        handed to the sinks strictly in frame order, so the output is the same for every
        `max_in_flight`. `recognizer` answers instead of the session's own when given: a
        wrapper around it (`cer annotate` watches a server's calls); the crop size, the
        manifest and the requests in flight stay the session recognizer's.
        """
        recording = [self.recording] if self.recording is not None else []
        pipeline = Pipeline(
            self.source,
            self.analyzer,
            recognizer or self.recognizer,
            self.label_set,
            offline=True,
            sinks=[*recording, *sinks],
            smoothing=self.smoothing,
            fallback=self._fallback,
            on_status=self._on_status,
        )
        in_flight = concurrency_of(self.recognizer) if max_in_flight is None else max_in_flight
        return pipeline.run(max_in_flight=in_flight)

    def finish_recording(self) -> Any:
        """Finish the recording's files (idempotent); returns the recorder or None."""
        if self.recording is not None:
            self.recording.close()
        return self.recording

    def close(self) -> None:
        """Finish the recording and close the analyzer (never the recognizer: the caller's)."""
        try:
            self.finish_recording()
        finally:
            analyzer, self.analyzer = self.analyzer, None
            if analyzer is not None:
                try:
                    analyzer.close()
                except Exception:
                    log.exception("closing the analyzer failed")

    def __enter__(self) -> OfflineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
