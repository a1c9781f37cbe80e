"""The experiment's markers in: an LSL inlet on a marker stream chosen by name, type or source
id, read on its own thread, reconnecting when the experiment program restarts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cer_desktop.streams.config import marker_query

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LslMarker:
    """One marker as received.

    lsl_time: the sender's time stamp (the sender's LSL clock, as in an XDF file).
    local_lsl_time: the same instant on this machine's LSL clock (`lsl_time` plus the inlet's
        `time_correction()`); minus the hub's clock offset it is a capture-clock time.
    received_lsl_time: when it was read, on this machine's LSL clock.
    """

    text: str
    stream: str
    source_id: str
    lsl_time: float
    local_lsl_time: float
    received_lsl_time: float
    time_correction: float


class MarkerInlet:
    """Reads markers from the first stream matching `spec` ("NAME" or "key=value,...").

    `on_marker(marker)` runs on the inlet's thread; `on_state(connected, message)` when the
    stream is found or lost. A stream with a source id is recovered by liblsl itself; one
    without is looked up again when it is lost (the experiment program restarted).
    """

    def __init__(
        self,
        pylsl: Any,
        spec: str,
        on_marker: Callable[[LslMarker], None],
        on_state: Callable[[bool, str], None] | None = None,
    ) -> None:
        self._pylsl = pylsl
        self.spec = spec
        self.query = marker_query(spec)
        self._on_marker = on_marker
        self._on_state = on_state
        self._stop = threading.Event()
        self.connected = False
        self.received = 0
        self.connections = 0  # how many times a stream was found (1 + reconnections)
        self.stream_name = ""
        self._thread = threading.Thread(target=self._run, name="cer-lsl-markers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def consumers(self) -> int:
        return int(self.connected)

    def _state(self, connected: bool, message: str) -> None:
        self.connected = connected
        log.info("%s", message)
        if self._on_state is not None:
            self._on_state(connected, message)

    def _run(self) -> None:
        pylsl = self._pylsl
        while not self._stop.is_set():
            try:
                infos = pylsl.resolve_bypred(self.query, 1, 0.5)
            except Exception:
                log.exception("resolving %s failed", self.query)
                self._stop.wait(1.0)
                continue
            if not infos:
                continue
            info = infos[0]
            try:
                inlet = pylsl.StreamInlet(info, max_buflen=60, recover=True)
                inlet.open_stream(timeout=5.0)
            except Exception as exc:
                log.warning("opening marker stream %s failed: %s", info.name(), exc)
                self._stop.wait(0.5)
                continue
            self.connections += 1
            self.stream_name = info.name()
            self._state(
                True, f"LSL markers: reading “{info.name()}” ({info.source_id() or 'no source id'})"
            )
            try:
                self._read(inlet, info)
            finally:
                inlet.close_stream()
                if not self._stop.is_set():
                    self._state(False, f"LSL markers: lost “{info.name()}”, looking for it again")
        self.connected = False

    def _read(self, inlet: Any, info: Any) -> None:
        pylsl = self._pylsl
        from pylsl.util import LostError

        # The first time_correction() measures the offset (a few round trips); done here, it
        # does not delay the first marker. Later calls return liblsl's cached estimate.
        try:
            correction = float(inlet.time_correction(timeout=2.0))
        except Exception:
            correction = 0.0
        while not self._stop.is_set():
            try:
                sample, ts = inlet.pull_sample(timeout=0.2)
            except LostError:
                return
            if sample is None:
                continue
            received = pylsl.local_clock()
            try:
                # cached by liblsl after the first call and refreshed in the background
                correction = inlet.time_correction(timeout=1.0)
            except Exception:  # keep the last one (a timeout while the sender is busy)
                pass
            text = str(sample[0]) if sample else ""
            marker = LslMarker(
                text=text,
                stream=info.name(),
                source_id=info.source_id(),
                lsl_time=float(ts),
                local_lsl_time=float(ts) + correction,
                received_lsl_time=received,
                time_correction=correction,
            )
            self.received += 1
            try:
                self._on_marker(marker)
            except Exception:
                log.exception("handling an LSL marker failed")
