"""What a recording logs beside its frames: markers, settings changed while recording, and
source or server status, each placed at the newest recorded frame (`events.jsonl`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cer_desktop.contracts import StatusEvent, StatusKind
from cer_desktop.recording.session_writer import SessionFiles

# the status events a recording logs in events.jsonl (at the newest recorded frame)
NOTED_KINDS = frozenset(
    {
        StatusKind.SOURCE_LOST,
        StatusKind.SOURCE_RESTORED,
        StatusKind.REMOTE_UNREACHABLE,
        StatusKind.REMOTE_RECONNECTED,
    }
)

#: (index, source frame id, capture time) of the newest recorded frame, or Nones before it
Newest = Callable[[], tuple[int | None, int | None, float | None]]


class RecordingNotes:
    """A recorder's event log, told where the recording stands by `newest`, `t0` (the first
    frame's capture time) and `elapsed` (seconds since the recording started)."""

    def __init__(
        self,
        files: SessionFiles,
        newest: Newest,
        t0: Callable[[], float | None],
        elapsed: Callable[[], float],
    ) -> None:
        self._files = files
        self._newest = newest
        self._t0 = t0
        self._elapsed = elapsed

    def _session_t(self, t_capture: float | None) -> float | None:
        t0 = self._t0()
        return None if t_capture is None or t0 is None else round(t_capture - t0, 4)

    def add_marker(
        self, note: str = "", *, t_capture: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Log a marker (with an optional note) at the newest recorded frame; returns it.

        `t_capture` (a capture-clock time, e.g. an experiment's LSL marker) gives the marker
        its own `t` instead of the newest frame's; `extra` fields are logged with it."""
        frame, source_frame, t_last = self._newest()
        t = self._session_t(t_last if t_capture is None or frame is None else t_capture)
        return self._files.note(
            "marker",
            note=str(note),
            frame=frame,
            source_frame=source_frame,
            t=t,
            elapsed_s=round(self._elapsed(), 3),
            **extra,
        )

    def note_change(self, setting: str, **fields: Any) -> dict[str, Any]:
        """Log that `setting` changed while recording (a `setting` event: `frame` is the
        newest recorded frame, the change applies after it; `fields` say old and new). The
        recording goes on in the same folder."""
        frame, _, t_last = self._newest()
        return self._files.note(
            "setting", setting=setting, frame=frame, t=self._session_t(t_last), **fields
        )

    def note_status(self, event: StatusEvent) -> None:
        """Log a source gap (`SOURCE_LOST`, `SOURCE_RESTORED`) or a switch between a remote
        server and the instant tier standing in (`REMOTE_UNREACHABLE`, `REMOTE_RECONNECTED`)
        in the events log at the newest recorded frame. The recording goes on: frames after a
        gap keep their capture times, so the video shows the gap as a jump in time."""
        if event.kind in NOTED_KINDS:
            frame = self._newest()[0]
            self._files.note(
                event.kind.value, frame=frame, message=event.message, **dict(event.payload)
            )
