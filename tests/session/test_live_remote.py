"""A live session on a remote server wrapped in its instant fallback (issue 19, defect 4):
the crop size and label set of the served model, the manifest's server, served model and
scoring mode, and which frames the fallback labelled."""

from __future__ import annotations

import json
import threading
import time

import pytest

from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.session.live import LiveSession
from cer_desktop.testing.fakes import FakeAnalyzer, ListSource, synthetic_frames
from cer_desktop.testing.remote_server import FakeServer


@pytest.fixture
def served(monkeypatch, tmp_path):
    """A fake server and the live recognizer for it (the GUI's path: `load_recognizer`),
    its model metadata saying raf_basic at 112 px; the URL carries credentials."""
    from cer_desktop.recognition.lvlm.metadata import AdapterMetadata
    from cer_desktop.recognition.lvlm.prompts import PromptTemplate
    from cer_desktop.session.choice import RecognizerChoice
    from cer_desktop.session.model_store import load_recognizer

    monkeypatch.delenv("CER_API_KEY", raising=False)
    prompt = PromptTemplate("lab_v2", "Lab prompt v2, pick one of: {labels}. Answer with it.")
    AdapterMetadata.create(RAF_BASIC, prompt, crop_size=112).write(tmp_path / "merged")
    with FakeServer() as server:
        url = server.url.replace("http://", "http://bob:hunter2@")
        choice = RecognizerChoice(
            server=url, served_model="tiny", model_meta=str(tmp_path / "merged"), deadline=1.0
        )
        config = choice.to_spec()
        recognizer = load_recognizer(config)
        recognizer._retry_after = 0.2  # probe often: the test waits for the reconnection
        yield server, recognizer


def _wait(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_remote_session_records_its_server_and_the_frames_the_fallback_labelled(served, tmp_path):
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.events import read_events

    server, recognizer = served
    # Given the wrapped recognizer passes on what the served model was trained with
    assert recognizer.label_set is RAF_BASIC and recognizer.crop_size == 112
    crops: list[int] = []

    def analyzers(n: int, crop: int) -> FakeAnalyzer:
        crops.append(crop)
        return FakeAnalyzer()

    frames = synthetic_frames(12)
    s = LiveSession(
        RAF_COMPOUND,
        recognizer=recognizer,
        recognizer_description="remote",
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=analyzers,
    )
    try:
        s.set_label_set(recognizer.label_set)  # as the window does with a model's own set
        assert s.start("demo")
        # Then the faces are aligned at the served model's crop size
        assert crops == [112], crops
        folder = s.recording.start(tmp_path / "rec", extra={"model": "instant"})
        assert folder is not None
        assert _wait(lambda: server.chat_requests > 20), "the server labels the frames"
        # When the server stops answering, and later answers again
        server.fail_next = 10**9
        assert _wait(lambda: recognizer.degraded)
        time.sleep(0.5)
        server.fail_next = 0
        assert _wait(lambda: not recognizer.degraded), "the server is back"
        time.sleep(0.5)
        stopped = s.recording.stop()
        assert stopped is not None and stopped.frames_written > 0
    finally:
        s.shutdown()
    # Then the manifest names the server (without its credentials), model and scoring mode
    text = (folder / "manifest.json").read_text()
    assert "hunter2" not in text and "bob" not in text
    manifest = json.loads(text)
    remote = manifest["remote"]
    assert remote["server"] == server.url and remote["served_model"] == "tiny"
    assert remote["scoring_mode"] == "prompt_logprobs" and remote["exact"] is True
    assert remote["model_meta"] == {
        "label_set": "raf_basic",
        "prompt_id": "lab_v2",
        "crop_size": 112,
    }
    assert remote["fallback"]["recognizer"] == "instant" and remote["fallback"]["deadline_s"] == 1
    assert manifest["recognizer"] == "remote" and manifest["model"] == "tiny"
    assert manifest["prompt"]["id"] == "lab_v2" and manifest["label_set"] == "raf_basic"
    # and the switches are events at frame numbers, the rows between them say "instant"
    events = read_events(folder / "events.jsonl")
    switches = [e for e in events if e["type"].startswith("remote_")]
    assert [e["type"] for e in switches] == ["remote_unreachable", "remote_reconnected"], events
    down_at, up_at = switches[0]["frame"], switches[1]["frame"]
    assert down_at is not None and up_at is not None and down_at < up_at
    # (a remote answer takes longer than a frame, so its rows carry it over: fresh 0)
    rows = list(read_rows(folder))
    instant = [int(r["frame"]) for r in rows if r["recognizer"] == "instant"]
    remote_rows = [int(r["frame"]) for r in rows if r["recognizer"] == "remote"]
    assert instant and remote_rows, {r["recognizer"] for r in rows}
    # the first remote answer after the reconnection takes a moment: a few carried frames
    assert down_at - 2 <= min(instant) and max(instant) <= up_at + 10, (down_at, up_at, instant)
    assert min(remote_rows) < down_at and max(remote_rows) > up_at
    assert not [t for t in threading.enumerate() if t.name.startswith("cer-remote")]


def test_closing_a_session_whose_server_hangs_returns_within_a_second(monkeypatch):
    # Given a live session on a server that accepts a frame's requests and never answers,
    # with a long live deadline (the frame is still waiting when the window closes)
    from cer_desktop.session.choice import RecognizerChoice
    from cer_desktop.session.model_store import load_recognizer

    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as server:
        choice = RecognizerChoice(server=server.url, served_model="tiny", deadline=30.0)
        recognizer = load_recognizer(choice.to_spec())
        frames = synthetic_frames(12)
        s = LiveSession(
            RAF_BASIC,
            recognizer=recognizer,
            source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
            analyzer_factory=lambda n, crop: FakeAnalyzer(),
        )
        closed = threading.Event()
        try:
            assert s.start("demo")
            assert _wait(lambda: server.chat_requests > 3)
            server.hang = True
            assert _wait(lambda: server.active >= 1), "a request is hanging"
            time.sleep(0.2)
            # When the session shuts down (the window closes)
            t = threading.Thread(target=lambda: (s.shutdown(), closed.set()), daemon=True)
            t0 = time.monotonic()
            t.start()
            # Then it returns within a second: the hung requests are cancelled, not waited for
            assert closed.wait(5.0), "shutdown still waits for the hung server after 5 s"
            took = time.monotonic() - t0
            assert took <= 1.0, f"shutdown took {took:.2f} s"
        finally:
            server.hang = False
            if not closed.is_set():
                s.shutdown()
