"""Live streams out of a session (Lab Streaming Layer, WebSocket, OSC) and experiment markers
in (an LSL marker inlet). Qt-free; the libraries (pylsl, websockets, python-osc: the
`streams` extra) are imported only when a stream is switched on.

`StreamHub` (hub.py) builds the outputs from a `StreamsConfig` and gives the session one
`AnnotationSink` (`StreamFanout`); `cer_desktop.session.streams` attaches it to a
`LiveSession` and routes markers to the recording's events. docs/streams.md describes the
WebSocket messages and the OSC addresses.
"""

from __future__ import annotations

from cer_desktop.streams.config import StreamsConfig, StreamsError, parse_host_port, slug
from cer_desktop.streams.frame_data import SCHEMA_VERSION, FaceValues, FrameValues

__all__ = [
    "SCHEMA_VERSION",
    "FaceValues",
    "FrameValues",
    "StreamsConfig",
    "StreamsError",
    "parse_host_port",
    "slug",
]
