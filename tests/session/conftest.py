"""What the session tests share: an event recorder and the session fixture, which fails a
test that leaves any new thread running (tests/thread_check.py)."""

from __future__ import annotations

import queue

import pytest
from thread_check import leaked_threads, threads_now

from cer_desktop.labels import RAF_BASIC
from cer_desktop.session.live import LiveSession
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer


class Events:
    """A subscriber that queues events, and waits for one of a type."""

    def __init__(self) -> None:
        self.q: queue.Queue[object] = queue.Queue()
        self.seen: list[object] = []

    def __call__(self, event: object) -> None:
        self.q.put(event)

    def wait_for(self, kind: type, timeout: float = 5.0, where=lambda e: True):
        while True:
            event = self.q.get(timeout=timeout)
            self.seen.append(event)
            if isinstance(event, kind) and where(event):
                return event


@pytest.fixture
def make_session():
    before = threads_now()
    made: list[LiveSession] = []

    def make(source_factory, **kw) -> tuple[LiveSession, Events]:
        kw.setdefault("recognizer", FixedRecognizer(top="Happiness", name="fixed"))
        kw.setdefault("analyzer_factory", lambda n, crop: FakeAnalyzer())
        s = LiveSession(RAF_BASIC, source_factory=source_factory, **kw)
        events = Events()
        s.subscribe(events)
        made.append(s)
        return s, events

    yield make
    for s in made:
        s.shutdown()
    left = leaked_threads(before)
    assert left == [], f"threads left running: {left}"
