"""The OSC stream (UDP) for Max/MSP, TouchDesigner, Pure Data and installations.

One OSC bundle per frame (one datagram, so a receiver never sees half a frame):
`/cer/frame` (frame id, capture time as a double, faces), then per face slot `/cer/face/<slot>/present`,
and for present faces `/cer/face/<slot>/track`, `/cer/face/<slot>/box` (x, y, w, h),
`/cer/face/<slot>/label`, `/cer/face/<slot>/prob/<label-slug>` (`config.slug`: "Happily
Surprised" -> `happily_surprised`) and `/cer/face/<slot>/au/<AU>` ("AU12"). Values a face
does not have yet (no prediction, an AU not measured) are left out. docs/streams.md lists
the addresses.
"""

from __future__ import annotations

from typing import Any

from cer_desktop.recording.csvlog import AU_NAMES
from cer_desktop.streams.config import StreamsError, slug
from cer_desktop.streams.fanout import StreamOutput
from cer_desktop.streams.frame_data import FrameValues


class OscStream(StreamOutput):
    """Sends each frame as an OSC bundle to host:port over UDP."""

    name = "osc"

    def __init__(self, host: str, port: int, queue_size: int = 64) -> None:
        try:
            from pythonosc import osc_bundle_builder, osc_message_builder, udp_client
        except ImportError as exc:
            raise StreamsError(
                f"OSC streaming needs python-osc ({exc}): pip install 'cer-desktop[streams]'"
            ) from exc
        super().__init__(queue_size)
        self.host, self.port = host, port
        self._bundles = osc_bundle_builder
        self._messages = osc_message_builder
        try:
            self._client: Any = udp_client.UDPClient(host, port)
        except OSError as exc:
            raise StreamsError(f"cannot send OSC to {host}:{port}: {exc}") from exc
        self._slugs: dict[tuple[str, ...], list[str]] = {}

    def describe(self) -> str:
        return f"OSC → {self.host}:{self.port}"

    def _message(self, address: str, *args: Any) -> Any:
        m = self._messages.OscMessageBuilder(address=address)
        for a in args:
            m.add_arg(a)
        return m.build()

    def bundle(self, values: FrameValues) -> Any:
        """The OSC bundle of one frame."""
        slugs = self._slugs.get(values.labels)
        if slugs is None:
            slugs = self._slugs[values.labels] = [slug(lab) for lab in values.labels]
        b = self._bundles.OscBundleBuilder(self._bundles.IMMEDIATELY)
        frame = self._messages.OscMessageBuilder(address="/cer/frame")
        frame.add_arg(values.frame_id, "i")
        frame.add_arg(values.t_capture, "d")  # a float32 would round a monotonic time to ms
        frame.add_arg(len(values.faces), "i")
        b.add_content(frame.build())
        by_slot = {f.slot: f for f in values.faces}
        for k in range(values.max_faces):
            f = by_slot.get(k)
            root = f"/cer/face/{k}"
            b.add_content(self._message(f"{root}/present", int(f is not None)))
            if f is None:
                continue
            b.add_content(self._message(f"{root}/track", f.track_id))
            b.add_content(self._message(f"{root}/box", *f.box))
            if f.label:
                b.add_content(self._message(f"{root}/label", f.label))
            for s, p in zip(slugs, f.probs, strict=True):
                if p == p:  # not NaN
                    b.add_content(self._message(f"{root}/prob/{s}", float(p)))
            for au, v in zip(AU_NAMES, f.aus, strict=True):
                if v == v:
                    b.add_content(self._message(f"{root}/au/{au}", float(v)))
        return b.build()

    def _send(self, values: FrameValues) -> None:
        self._client.send(self.bundle(values))

    def send_marker(self, text: str) -> None:
        """`/cer/marker` with the marker's text (thread-safe: one datagram)."""
        self._client.send(self._message("/cer/marker", text))

    def _shutdown(self) -> None:
        self._client.close()
