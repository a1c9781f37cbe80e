"""LiveSession without Qt: typed events, how runs end, fallbacks, recording, recognizers."""

from __future__ import annotations

import importlib
import threading
import time

from cer_desktop.capture.base import SourceError
from cer_desktop.contracts import Severity, StatusKind
from cer_desktop.session import events as ev
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, ListSource, synthetic_frames

FRAMES = synthetic_frames(12)


def test_a_file_that_ends_ends_the_session_with_its_reason(make_session):
    # Given a session on a short file-like source
    s, events = make_session(lambda spec: ListSource(FRAMES, fps=200.0, description=spec))
    # When it starts
    assert s.start("clip.mp4")
    started = events.wait_for(ev.SessionStarted)
    assert started.source == "clip.mp4" and started.recognizer == "fixed"
    # Then its end arrives as an event (no polling), with the reason, and the session stopped
    ended = events.wait_for(ev.SessionEnded)
    assert ended.reason is ev.EndReason.END_OF_SOURCE
    assert ended.frames_captured == len(FRAMES) and not ended.fell_back_to_demo
    assert ended.status.kind is StatusKind.SOURCE_ENDED
    assert not s.running and s.stats is None


def test_stop_ends_with_reason_stopped(make_session):
    s, events = make_session(lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True))
    s.start("camera:0")
    events.wait_for(ev.SessionStarted)
    s.stop()
    ended = events.wait_for(ev.SessionEnded)
    assert ended.reason is ev.EndReason.STOPPED and not s.running


def test_a_camera_that_never_delivers_is_replaced_by_the_demo(make_session):
    # Given a camera whose opening fails inside the capture thread
    class DeadCamera(ListSource):
        def _open(self):
            raise SourceError("camera 3 could not be opened")

    specs: list[str] = []

    def factory(spec):
        specs.append(spec)
        if spec == "camera:3":
            return DeadCamera([], description=spec)
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, description=spec)

    s, events = make_session(factory)
    s.start("camera:3")
    # Then the session ends with a source error, says it falls back, and runs the demo
    ended = events.wait_for(ev.SessionEnded)
    assert ended.reason is ev.EndReason.SOURCE_ERROR and ended.fell_back_to_demo
    assert ended.status.severity is Severity.ERROR
    restarted = events.wait_for(ev.SessionStarted)
    assert restarted.source == "demo" and specs == ["camera:3", "demo"]
    said = events.wait_for(
        ev.StatusReported, where=lambda e: e.status.payload.get("instead") == "demo"
    )
    assert "camera:3" in said.status.message and "could not be opened" in said.status.message
    assert s.running and s.source_spec == "demo"


def test_a_source_that_cannot_be_made_falls_back_at_once(make_session):
    def factory(spec):
        if spec != "demo":
            raise SourceError(f"{spec}: no such file")
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, description=spec)

    s, events = make_session(factory)
    assert s.start("missing.mp4"), "the demo should have started instead"
    error = events.wait_for(ev.StatusReported)
    assert error.status.kind is StatusKind.SOURCE_ERROR and "no such file" in error.status.message
    assert s.source_spec == "demo"


def test_a_lost_live_source_is_reported_as_lost(make_session):
    s, events = make_session(
        lambda spec: ListSource(FRAMES, fps=60.0, live=True, loop=True, fail_at=5)
    )
    s.start("camera:0")
    ended = events.wait_for(ev.SessionEnded)
    assert ended.status.kind is StatusKind.SOURCE_LOST and not ended.fell_back_to_demo


def test_recording_is_started_and_stopped_with_events(make_session, tmp_path):
    importlib.import_module("cer_desktop.recording.recorder")
    s, events = make_session(lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True))
    s.start("demo")
    folder = s.recording.start(tmp_path, extra={"model": "instant"})
    assert folder is not None and s.recording.active
    assert events.wait_for(ev.RecordingStarted).folder == folder
    threading.Event().wait(0.3)
    stopped = s.recording.stop()
    assert stopped is not None and stopped.frames_written > 0
    assert events.wait_for(ev.RecordingStopped).folder == folder
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["recognizer"] == "fixed" and manifest["source"] == "demo"


def test_a_recording_that_cannot_start_is_an_event_and_the_view_goes_on(make_session, tmp_path):
    importlib.import_module("cer_desktop.recording.recorder")
    s, events = make_session(lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True))
    s.start("demo")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert s.recording.start(blocker) is None
    failed = events.wait_for(ev.RecordingFailed)
    assert failed.status.kind is StatusKind.RECORDING_FAILED and failed.error
    assert s.running and not s.recording.active


def test_a_model_with_another_crop_size_gets_a_matching_analyzer(make_session):
    crops: list[int] = []

    class Sized(FakeAnalyzer):
        def __init__(self, crop):
            super().__init__()
            self.crop_size, self.max_faces = crop, 4

    def analyzers(n, crop):
        crops.append(crop)
        return Sized(crop)

    class Model112(FixedRecognizer):
        crop_size = 112

    first = FixedRecognizer(name="first")
    s, events = make_session(
        lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True),
        analyzer_factory=analyzers,
        recognizer=first,
    )
    s.start("demo")
    s.set_recognizer(Model112(name="lvlm"), "m112")
    changed = events.wait_for(ev.RecognizerChanged)
    assert changed.name == "lvlm" and changed.description == "m112"
    assert crops == [224, 112] and s.running
    deadline = time.monotonic() + 5.0
    while not first.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.closed, "the replaced recognizer is closed once no call uses it"


def test_a_failing_model_is_answered_by_the_instant_fallback(make_session):
    from cer_desktop.testing.fakes import FailingRecognizer

    s, events = make_session(
        lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True),
        recognizer=FailingRecognizer("CUDA out of memory", name="lvlm"),
    )
    s.start("demo")
    said = events.wait_for(
        ev.StatusReported, where=lambda e: e.status.kind is StatusKind.RECOGNIZER_FALLBACK
    )
    assert said.status.payload["recognizer"] == "lvlm"


class _DownServer:
    """A remote recognizer whose server does not answer (or does, once `up` is set)."""

    name = "remote"

    def __init__(self) -> None:
        self.up = False
        self.inner = FixedRecognizer(top="Surprise", name="remote")

    def predict(self, faces, label_set):
        from cer_desktop.recognition.remote.client import ServerUnreachable

        if not self.up:
            raise ServerUnreachable("connection refused")
        return self.inner.predict(faces, label_set)

    def close(self) -> None:
        pass


def test_a_remote_server_going_down_and_back_is_reported_to_the_view(make_session):
    from cer_desktop.recognition.remote.fallback import FallbackRecognizer

    primary = _DownServer()
    fb = FallbackRecognizer(primary, FixedRecognizer(top="Happiness", name="instant"))
    fb._retry_after = 0.05
    s, events = make_session(lambda spec: ListSource(FRAMES, fps=30.0, live=True, loop=True))
    s.set_recognizer(fb, "remote at http://127.0.0.1:1")  # set while idle: wired all the same
    s.start("demo")
    down = events.wait_for(
        ev.StatusReported, where=lambda e: e.status.kind is StatusKind.REMOTE_UNREACHABLE
    )
    assert down.status.severity is Severity.WARNING
    assert "connection refused" in down.status.message
    primary.up = True
    events.wait_for(
        ev.StatusReported, where=lambda e: e.status.kind is StatusKind.REMOTE_RECONNECTED
    )
