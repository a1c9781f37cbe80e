"""The composition the reliability benches drive: the window's `LiveSession`, on a source the
bench prepared, recording through `SessionRecording` — what users run, not a hand-built
pipeline and recorder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cer_desktop.capture.base import FrameSource
from cer_desktop.contracts import Recognizer, StatusEvent
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.sinks import AnnotationSink
from cer_desktop.session.events import RecordingFailed, SessionEvent
from cer_desktop.session.live import DisplayCallback, LiveSession

#: Named in the benches' JSON: the composition their figures were measured on.
COMPOSITION = "LiveSession + SessionRecording"


def live_session(
    source: FrameSource,
    recognizer: Recognizer,
    label_set: LabelSet,
    *,
    max_faces: int = 4,
    sinks: Iterable[AnnotationSink] = (),
    on_display: DisplayCallback | None = None,
    on_status: Callable[[StatusEvent], None] | None = None,
) -> LiveSession:
    """A `LiveSession` on `source` (whatever spec it is started with) with the real face
    analyzer; `on_status` receives the status of every session event."""
    from cer_desktop.session.factories import default_analyzer_factory

    session = LiveSession(
        label_set,
        recognizer=recognizer,
        source_factory=lambda spec: source,
        analyzer_factory=default_analyzer_factory,
        max_faces=max_faces,
        on_display=on_display,
        sinks=sinks,
    )
    if on_status is not None:
        session.subscribe(lambda event: on_status(event.status))
    return session


class RecordingNotStarted(RuntimeError):
    """The session could not record (the `RecordingFailed` message says why)."""


def record_into(
    session: LiveSession, folder: Path, *, record_raw: bool = True, **options: Any
) -> Any:
    """Start the running session's recording into `folder` itself; its `SessionRecorder`."""
    failed: list[str] = []

    def note(event: SessionEvent) -> None:
        if isinstance(event, RecordingFailed):
            failed.append(event.error)

    unsubscribe = session.subscribe(note)
    try:
        started = session.recording.start(
            folder, record_raw=record_raw, extra={"mode": "bench"}, new_folder=False, **options
        )
    finally:
        unsubscribe()
    if started is None:
        raise RecordingNotStarted(failed[-1] if failed else f"cannot record to {folder}")
    return session.recording.recorder
