"""Settings that need another face analyzer (the face limit, a model's crop size) changed
while recording: the recording goes on in the same folder and logs what changed after which
frame; a change that cannot be applied is refused with a message (#19, defect 6)."""

from __future__ import annotations

import importlib
import time

import pytest

from cer_desktop.contracts import StatusKind
from cer_desktop.session import events as ev
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, ListSource, synthetic_frames

FRAMES = synthetic_frames(12)


class Sized(FakeAnalyzer):
    """A fake analyzer that knows the settings it was built for."""

    def __init__(self, max_faces: int, crop: int) -> None:
        super().__init__()
        self.max_faces, self.crop_size = max_faces, crop


class Analyzers:
    """An analyzer factory that remembers what it built; `refuse` makes it fail for a limit."""

    def __init__(self, refuse: int | None = None) -> None:
        self.built: list[Sized] = []
        self.refuse = refuse

    def __call__(self, n: int, crop: int) -> Sized:
        if n == self.refuse:
            raise RuntimeError(f"no graph for {n} faces")
        self.built.append(Sized(n, crop))
        return self.built[-1]


class Model112(FixedRecognizer):
    crop_size = 112


def _live(spec: str) -> ListSource:
    return ListSource(FRAMES, fps=30.0, live=True, loop=True)


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def recording_session(make_session, tmp_path):
    importlib.import_module("cer_desktop.recording.recorder")
    analyzers = Analyzers(refuse=5)
    s, events = make_session(_live, analyzer_factory=analyzers)
    assert s.start("demo")
    folder = s.recording.start(tmp_path)
    assert folder is not None
    events.wait_for(ev.RecordingStarted)  # and the run's start before it
    _wait(lambda: s.stats.frames_painted >= 5)
    return s, events, analyzers, folder


def _written(s) -> int:
    return int(s.recording._recorder.frames_written)


def test_changing_the_face_limit_while_recording_keeps_the_recording(recording_session):
    from cer_desktop.recording.events import EVENTS_FILE, read_events
    from cer_desktop.recording.manifest import read_manifest

    s, events, analyzers, folder = recording_session
    written = _written(s)
    seen = len(events.seen)
    # When the user changes Faces while recording
    s.set_max_faces(2)
    # Then the recording goes on in the same folder, no new run started
    assert s.recording.active and s.recording.folder == folder
    said = events.wait_for(ev.StatusReported, where=lambda e: e.status.payload.get("new") == 2)
    assert "recording continues" in said.status.message
    _wait(lambda: _written(s) >= written + 10)
    assert not any(isinstance(e, ev.SessionStarted) for e in events.seen[seen:])
    # with the new analyzer in use and the old one closed
    assert [(a.max_faces, a.crop_size) for a in analyzers.built] == [(4, 224), (2, 224)]
    assert analyzers.built[0].closed and not analyzers.built[1].closed
    _wait(lambda: analyzers.built[1].calls > 0)
    # And the events log says what changed after which frame
    stopped = s.recording.stop()
    assert stopped is not None and stopped.frames_written >= written + 10
    change = [e for e in read_events(folder / EVENTS_FILE) if e["type"] == "setting"]
    assert len(change) == 1 and change[0]["setting"] == "max_faces"
    assert (change[0]["old"], change[0]["new"]) == (4, 2)
    assert written - 1 <= change[0]["frame"] < stopped.frames_written
    m = read_manifest(folder)
    assert m["status"] == "complete" and m["frames_written"] == stopped.frames_written
    assert m["max_faces"] == 4 and m["crop_size"] == 224  # what it started with


def test_a_model_with_another_crop_size_while_recording_keeps_the_recording(
    recording_session,
):
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.events import EVENTS_FILE, read_events

    s, events, analyzers, folder = recording_session
    written = _written(s)
    # When a model trained on 112-pixel crops finishes loading while recording
    s.set_recognizer(Model112(name="lvlm"), "m112")
    # Then the recording goes on, the analyzer crops at 112 and the model labels the frames
    assert s.recording.active and s.recording.folder == folder
    assert [a.crop_size for a in analyzers.built] == [224, 112]
    _wait(lambda: _written(s) >= written + 10)
    stopped = s.recording.stop()
    assert stopped is not None
    change = [e for e in read_events(folder / EVENTS_FILE) if e["type"] == "setting"]
    assert [c["setting"] for c in change] == ["recognizer"]
    assert (change[0]["new"], change[0]["crop_size_before"], change[0]["crop_size"]) == (
        "lvlm",
        224,
        112,
    )
    recognizers = [r["recognizer"] for r in read_rows(folder)]
    assert recognizers[0] == "fixed" and recognizers[-1] == "lvlm"


def test_a_change_that_cannot_be_applied_is_refused_with_a_message(recording_session):
    s, events, analyzers, folder = recording_session
    # When the analyzer for the new limit cannot be built
    s.set_max_faces(5)
    # Then the user is told, the old limit stays and the recording goes on
    said = events.wait_for(
        ev.StatusReported, where=lambda e: e.status.kind is StatusKind.ANALYSIS_ERROR
    )
    assert "Cannot apply Faces: 5" in said.status.message and "previous setting" in (
        said.status.message
    )
    assert s.max_faces == 4 and s.recording.active and s.recording.folder == folder
    written = _written(s)
    _wait(lambda: _written(s) >= written + 5)
    assert len(analyzers.built) == 1 and not analyzers.built[0].closed


def test_changing_the_face_limit_without_recording_does_not_restart(make_session):
    analyzers = Analyzers()
    s, events = make_session(_live, analyzer_factory=analyzers)
    assert s.start("demo")
    events.wait_for(ev.SessionStarted)
    seen = len(events.seen)
    s.set_max_faces(1)
    said = events.wait_for(ev.StatusReported, where=lambda e: e.status.payload.get("new") == 1)
    assert said.status.message == "Faces: 1"
    assert not any(isinstance(e, ev.SessionEnded | ev.SessionStarted) for e in events.seen[seen:])
    assert s.running and [a.max_faces for a in analyzers.built] == [4, 1]
