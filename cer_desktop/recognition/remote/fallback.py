"""`FallbackRecognizer`: the remote recognizer, with the instant tier standing in while it is down.

Live, a server that stops answering must not stop the view: the frames go to the stand-in
(recognizer name "instant", so the window shows which tier answered), one status event says
so, and the server is tried again every `retry_after` seconds until it answers
(`REMOTE_RECONNECTED`). Failures other than an unreachable server (401, unknown model) are
not hidden: they raise as from any recognizer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from cer_desktop.contracts import (
    Face,
    Prediction,
    Recognizer,
    Severity,
    StatusEvent,
    StatusKind,
    status,
)
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.remote.client import ServerUnreachable

log = logging.getLogger(__name__)

OnStatus = Callable[[StatusEvent], None]


class FallbackRecognizer:
    """`primary` while it answers; `fallback` (and a retry every `retry_after` s) while not."""

    def __init__(
        self,
        primary: Recognizer,
        fallback: Recognizer,
        *,
        on_status: OnStatus | None = None,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self._on_status = on_status
        self._retry_after = retry_after
        self._clock = clock
        self._next_try: float | None = None  # None: the primary is up

    def set_status_sink(self, on_status: OnStatus | None) -> None:
        """Where the unreachable/reconnected events go (a live session passes its own)."""
        self._on_status = on_status

    @property
    def degraded(self) -> bool:
        """True while the stand-in answers."""
        return self._next_try is not None

    def _emit(self, event: StatusEvent) -> None:
        log.log(30 if event.severity is not Severity.INFO else 20, "%s", event.message)
        if self._on_status is not None:
            self._on_status(event)

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        if self._next_try is not None and self._clock() < self._next_try:
            return self.fallback.predict(faces, label_set)
        try:
            predictions = self.primary.predict(faces, label_set)
        except ServerUnreachable as exc:
            first = self._next_try is None
            self._next_try = self._clock() + self._retry_after
            if first:
                self._emit(
                    status(
                        StatusKind.REMOTE_UNREACHABLE,
                        f"remote server unreachable; instant tier stands in ({exc})",
                        Severity.WARNING,
                        error=type(exc).__name__,
                    )
                )
            return self.fallback.predict(faces, label_set)
        if self._next_try is not None:
            self._next_try = None
            self._emit(status(StatusKind.REMOTE_RECONNECTED, "remote server answers again"))
        return predictions

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()
