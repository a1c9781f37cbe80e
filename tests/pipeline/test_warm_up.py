"""The face analyzer starts its models before the source opens, so a live run (and a recording
started with it) has no gap after its first frame."""

from __future__ import annotations

import numpy as np

from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.testing.fakes import (
    CollectingSink,
    FakeAnalyzer,
    FixedRecognizer,
    ListSource,
    synthetic_frames,
)


class _StartingAnalyzer(FakeAnalyzer):
    """A FakeAnalyzer that notes when it was warmed up, and may fail to."""

    def __init__(self, events: list[str], fail: bool = False) -> None:
        super().__init__()
        self.events, self.fail = events, fail

    def warm_up(self) -> None:
        self.events.append("warm_up")
        if self.fail:
            raise RuntimeError("no model file")

    def process(self, frame):  # noqa: ANN001
        self.events.append("process")
        return super().process(frame)


class _NotedSource(ListSource):
    def __init__(self, images: list[np.ndarray], events: list[str]) -> None:
        super().__init__(images, fps=100.0, live=True)
        self.events = events

    def _open(self) -> None:
        self.events.append("open")
        super()._open()


def _run(analyzer: _StartingAnalyzer, events: list[str]) -> CollectingSink:
    sink = CollectingSink()
    p = Pipeline(
        _NotedSource(synthetic_frames(5), events), analyzer, FixedRecognizer(), RAF_BASIC,
        sinks=[sink],
    )  # fmt: skip
    p.start()
    p.join(10)
    p.stop()
    return sink


def test_the_analyzer_is_warmed_up_before_the_source_opens() -> None:
    events: list[str] = []
    sink = _run(_StartingAnalyzer(events), events)
    assert events[:2] == ["warm_up", "open"], events
    assert events.count("warm_up") == 1 and events.count("process") == 5
    assert sink.frame_ids == list(range(5))


def test_a_failed_warm_up_is_logged_and_the_run_goes_on(caplog) -> None:
    events: list[str] = []
    sink = _run(_StartingAnalyzer(events, fail=True), events)
    assert sink.frame_ids == list(range(5))
    assert "warming up the face analyzer failed" in caplog.text


def test_the_real_analyzer_starts_its_model_without_a_frame() -> None:
    from cer_desktop.vision.analyzer import FaceAnalyzer

    with FaceAnalyzer(max_faces=1, lanes=2) as analyzer:
        assert analyzer._detectors == [None, None]  # built on first use otherwise
        analyzer.warm_up()
        detectors = list(analyzer._detectors)
        assert all(d is not None for d in detectors) and detectors[0] is not detectors[1]
        analyzer.warm_up()  # twice is harmless: the same models
        assert analyzer._detectors == detectors
