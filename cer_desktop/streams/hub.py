"""`StreamHub`: the streams a `StreamsConfig` switches on, built together, counted together,
closed together. Qt-free and session-free (cer_desktop.session.streams attaches it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from cer_desktop.streams.config import (
    DEFAULT_OSC_PORT,
    DEFAULT_WS_PORT,
    StreamsConfig,
    StreamsError,
    parse_host_port,
    stream_token,
)
from cer_desktop.streams.fanout import StreamFanout, StreamOutput
from cer_desktop.streams.lsl_in import LslMarker, MarkerInlet

log = logging.getLogger(__name__)


class StreamHub:
    """The streams of one configuration.

    Args:
        config: which streams are on.
        max_faces: the session's *Faces* (the slots of the fixed layouts).
        fps: the source's nominal rate (the LSL outlet's nominal rate).
        recognizer: named in the LSL stream's description.
        on_marker: called (on the inlet's thread) with each experiment marker.
        on_state: called with a message for people when the marker stream is found or lost.
        environ: where `CER_STREAM_TOKEN` is read (tests); default `os.environ`.

    A stream that cannot start (missing library, address in use, no token) is left out and
    its reason is in `errors`; the others run.
    """

    def __init__(
        self,
        config: StreamsConfig,
        *,
        max_faces: int = 4,
        fps: float = 30.0,
        recognizer: str = "",
        on_marker: Callable[[LslMarker], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.errors: list[str] = []
        self.outputs: list[StreamOutput] = []
        self.lsl_clock_offset: float | None = None
        self.markers: Any = None  # LslMarkers
        self.inlet: MarkerInlet | None = None
        self.expressions: Any = None
        self.websocket: Any = None
        self.osc: Any = None
        self._lock = threading.Lock()
        self._closed = False
        pylsl = None
        if config.uses_lsl:
            from cer_desktop.streams.lsl_out import clock_offset, import_pylsl

            try:
                pylsl = import_pylsl()
                self.lsl_clock_offset = clock_offset(pylsl)
            except StreamsError as exc:
                self.errors.append(str(exc))
        if config.lsl and pylsl is not None:
            from cer_desktop.streams.lsl_out import LslExpressions, LslMarkers

            try:
                self.markers = LslMarkers(pylsl)
                assert self.lsl_clock_offset is not None
                self.expressions = LslExpressions(
                    pylsl, self.lsl_clock_offset, fps, self.markers, recognizer
                )
                self.outputs.append(self.expressions)
            except Exception as exc:
                self.errors.append(f"LSL outlets: {exc}")
        if config.ws:
            from cer_desktop.streams.websocket import WebSocketStream

            try:
                host, port = parse_host_port(config.ws, DEFAULT_WS_PORT)
                self.websocket = WebSocketStream(
                    host, port, stream_token(environ), lsl_offset=self.lsl_clock_offset
                )
                self.outputs.append(self.websocket)
            except StreamsError as exc:
                self.errors.append(str(exc))
        if config.osc:
            from cer_desktop.streams.osc import OscStream

            try:
                host, port = parse_host_port(config.osc, DEFAULT_OSC_PORT)
                self.osc = OscStream(host, port)
                self.outputs.append(self.osc)
            except StreamsError as exc:
                self.errors.append(str(exc))
        if config.lsl_markers and pylsl is not None:
            try:
                self.inlet = MarkerInlet(
                    pylsl,
                    config.lsl_markers,
                    on_marker or (lambda marker: None),
                    (lambda connected, message: on_state(message)) if on_state else None,
                )
            except StreamsError as exc:
                self.errors.append(str(exc))
        self.sink = StreamFanout(self.outputs, max_faces)
        for out in self.outputs:
            out.start()
        if self.inlet is not None:
            self.inlet.start()

    @property
    def active(self) -> bool:
        return bool(self.outputs or self.inlet is not None)

    def push_marker(self, text: str, lsl_time: float | None = None, *, to_lsl: bool = True) -> None:
        """A marker on every stream that carries markers (LSL "Markers", WebSocket, OSC).

        `to_lsl=False` leaves the LSL outlet out: an experiment's own markers are already on
        LSL (LabRecorder records that stream), so they are only passed on to WebSocket/OSC."""
        if self._closed:
            return
        if self.markers is not None and to_lsl:
            self.markers.push(text, lsl_time)
        if self.websocket is not None:
            self.websocket.send_json(
                {"schema": 1, "type": "marker", "text": text, "lsl_time": lsl_time}
            )
        if self.osc is not None:
            try:
                self.osc.send_marker(text)
            except OSError as exc:
                log.warning("OSC marker not sent: %s", exc)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per stream: consumers (-1 = unknown), frames sent, frames dropped."""
        out = {
            o.name: {"consumers": o.consumers, "sent": o.sent, "dropped": o.dropped}
            for o in self.outputs
        }
        if self.inlet is not None:
            out["lsl_markers_in"] = {
                "consumers": self.inlet.consumers,
                "received": self.inlet.received,
                "connections": self.inlet.connections,
            }
        return out

    def status_text(self) -> str:
        """One line for the status bar: each stream, its address and its consumers."""
        parts = []
        for o in self.outputs:
            n = o.consumers
            who = "" if n < 0 else f" ({n} {'client' if n == 1 else 'clients'})"
            if o.name == "lsl":
                who = " (recorded)" if n > 0 else " (no inlet)"
            problem = " — stopped: " + o.error if o.error else ""
            parts.append(f"{o.describe()}{who}{problem}")
        if self.inlet is not None:
            state = f"reading “{self.inlet.stream_name}”" if self.inlet.connected else "waiting"
            parts.append(f"LSL markers in: {state} ({self.inlet.received})")
        return " · ".join(parts)

    def set_max_faces(self, n: int) -> None:
        self.sink.set_max_faces(n)

    def close(self) -> None:
        """Stop every stream and the inlet; joins their threads. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self.inlet is not None:
            self.inlet.close()
        for out in self.outputs:
            out.close()
        if self.markers is not None:
            self.markers.close()
