"""Live streams of a `LiveSession` (LSL, WebSocket, OSC) and the experiment's markers in.

The session gets one `SwitchableSink` at construction (`SessionStreams.make_sink()`, passed
in its `sinks`); `SessionStreams.apply(config)` builds a `StreamHub` and points the sink at
it, so streams go on and off while the session runs. Recording start/stop and user markers
go out on the marker streams; the experiment's LSL markers go into the recording's
events.jsonl through `session.recording.add_marker` (the Ctrl+M path) with their LSL times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cer_desktop.contracts import Severity, StatusKind
from cer_desktop.session.events import MarkerAdded, RecordingStarted, RecordingStopped
from cer_desktop.settings import AppSettings
from cer_desktop.streams.config import (
    StreamsConfig,
    StreamsError,
    format_host_port,
    parse_host_port,
)
from cer_desktop.streams.fanout import SwitchableSink
from cer_desktop.streams.hub import StreamHub
from cer_desktop.streams.lsl_in import LslMarker

if TYPE_CHECKING:
    from cer_desktop.session.live import LiveSession

log = logging.getLogger(__name__)

__all__ = [
    "SessionStreams",
    "StreamsConfig",
    "StreamsError",
    "config_from_settings",
    "normal_address",
]


def normal_address(text: str, default_port: int) -> str:
    """A "HOST:PORT" as typed, checked and written in full; raises `StreamsError`."""
    return format_host_port(*parse_host_port(text, default_port))


def config_from_settings(settings: AppSettings) -> StreamsConfig:
    """The streams the remembered settings switch on."""
    return StreamsConfig(
        lsl=settings.stream_lsl,
        ws=settings.stream_ws_address if settings.stream_ws else "",
        osc=settings.stream_osc_address if settings.stream_osc else "",
        lsl_markers=settings.stream_lsl_markers,
    )


class SessionStreams:
    """The streams part of a live session. Thread-safe; never imports Qt.

    Args:
        session: the session (its events, recording and source fps are used).
        sink: the `SwitchableSink` the session was constructed with.
        max_faces: the session's *Faces* (`set_max_faces` when it changes).
        environ: where `CER_STREAM_TOKEN` is read (tests); default `os.environ`.
    """

    def __init__(
        self,
        session: LiveSession,
        sink: SwitchableSink,
        *,
        max_faces: int = 4,
        environ: dict[str, str] | None = None,
    ) -> None:
        self._session = session
        self.sink = sink
        self._max_faces = max_faces
        self._environ = environ
        self._lock = threading.RLock()
        self._hub: StreamHub | None = None
        self.config = StreamsConfig()
        self._unsubscribe = session.subscribe(self._on_event)

    @staticmethod
    def make_sink() -> SwitchableSink:
        """The sink to give `LiveSession(sinks=...)` before the streams exist."""
        return SwitchableSink()

    @property
    def hub(self) -> StreamHub | None:
        return self._hub

    def apply(self, config: StreamsConfig) -> list[str]:
        """Run the streams `config` switches on (closing the previous ones); returns the
        problems of streams that could not start (each also reported as a status event)."""
        with self._lock:
            was_on = self._hub is not None
            self._close_hub()
            self.config = config
            if not config.any:
                if was_on:
                    self._session.report(StatusKind.STREAMS, "Streams off")
                return []
            hub = StreamHub(
                config,
                max_faces=self._max_faces,
                fps=self._session.source_fps,
                recognizer=self._session.recognizer_description,
                on_marker=self._on_lsl_marker,
                on_state=self._on_inlet_state,
                environ=self._environ,
            )
            self._hub = hub
            self.sink.target = hub.sink
            self._session.recording.lsl_clock_offset = hub.lsl_clock_offset
            for problem in hub.errors:
                self._session.report(StatusKind.STREAMS, problem, Severity.ERROR)
            if hub.active:
                self._session.report(StatusKind.STREAMS, f"Streaming: {hub.status_text()}")
            return list(hub.errors)

    def set_max_faces(self, n: int) -> None:
        """The session's *Faces* changed: the LSL outlet reopens with the new layout."""
        with self._lock:
            self._max_faces = int(n)
            if self._hub is not None:
                self._hub.set_max_faces(n)

    def counts(self) -> Mapping[str, Mapping[str, int]]:
        hub = self._hub
        return hub.counts() if hub is not None else {}

    def status_text(self) -> str:
        """The streams, their addresses and consumers, for the status bar ("" when off)."""
        hub = self._hub
        return hub.status_text() if hub is not None else ""

    def close(self) -> None:
        """Stop every stream (joins their threads). Idempotent."""
        with self._lock:
            self._unsubscribe()
            self._close_hub()

    def _close_hub(self) -> None:
        hub, self._hub = self._hub, None
        self.sink.target = None
        self._session.recording.lsl_clock_offset = None
        if hub is not None:
            hub.close()

    # -- markers ----------------------------------------------------------------------------
    def _on_event(self, event: Any) -> None:
        hub = self._hub
        if hub is None:
            return
        if isinstance(event, RecordingStarted):
            hub.push_marker(f"recording started: {event.folder}")
        elif isinstance(event, RecordingStopped):
            hub.push_marker(f"recording stopped: {event.frames_written} frames")
        elif isinstance(event, MarkerAdded) and event.source == "user":
            hub.push_marker(f"user marker: {event.text}" if event.text else "user marker")
        elif isinstance(event, MarkerAdded) and event.source == "lsl":
            # the experiment's marker, for WebSocket/OSC consumers (it is on LSL already)
            hub.push_marker(f"experiment marker: {event.text}", event.lsl_time, to_lsl=False)

    def _on_inlet_state(self, message: str) -> None:
        self._session.report(StatusKind.STREAMS, message)

    def _on_lsl_marker(self, marker: LslMarker) -> None:
        # On the inlet's thread. The marker's time on the capture clock places it in the
        # session (events.jsonl `t`, the same clock as frames.csv's `t`).
        hub = self._hub
        offset = hub.lsl_clock_offset if hub is not None else None
        t_capture = marker.local_lsl_time - offset if offset is not None else None
        self._session.recording.add_marker(
            marker.text,
            source="lsl",
            t_capture=t_capture,
            lsl_time=marker.lsl_time,
            lsl_time_local=round(marker.local_lsl_time, 6),
            received_lsl_time=round(marker.received_lsl_time, 6),
            time_correction=round(marker.time_correction, 6),
            lsl_stream=marker.stream,
            lsl_source_id=marker.source_id,
        )
