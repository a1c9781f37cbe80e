"""The recognizers a session holds: the one in use, its description, the instant fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable

from cer_desktop.contracts import Recognizer, StatusEvent
from cer_desktop.session.factories import instant_recognizer

log = logging.getLogger(__name__)

INSTANT = "instant"


def is_instant(recognizer: Recognizer | None) -> bool:
    return getattr(recognizer, "name", "") == INSTANT


class RecognizerSlot:
    """The recognizer in use and the instant fallback that answers when it raises.

    `on_problem(message)` is told when the instant recognizer cannot be built; a recognizer
    that reports events of its own (`set_status_sink`, e.g. the remote tier's fallback when its
    server stops answering) reports them to `on_status`.
    """

    def __init__(
        self,
        recognizer: Recognizer | None,
        description: str,
        threshold: float,
        on_problem: Callable[[str], object],
        on_status: Callable[[StatusEvent], object] | None = None,
    ) -> None:
        self.threshold = threshold
        self._on_problem = on_problem
        self._on_status = on_status
        self.fallback: Recognizer | None = None
        self.current: Recognizer | None = None
        self.description = ""
        if recognizer is None:
            self.use(self.make_instant(), INSTANT)
        else:
            self.use(recognizer, description or getattr(recognizer, "name", "custom"))

    def use(self, recognizer: Recognizer | None, description: str) -> Recognizer | None:
        """Make `recognizer` the current one (its own events go to `on_status`); returns the
        one it replaces."""
        old, self.current, self.description = self.current, recognizer, description
        sink = getattr(recognizer, "set_status_sink", None)
        if callable(sink) and self._on_status is not None:
            sink(self._on_status)
        return old

    def make_instant(self) -> Recognizer | None:
        try:
            return instant_recognizer(self.threshold)
        except Exception as exc:
            log.warning("instant recognizer unavailable: %s", exc)
            self._on_problem(f"Instant recognizer unavailable: {exc}")
            return None

    def fallback_for(self, recognizer: Recognizer | None) -> Recognizer | None:
        """The instant fallback for `recognizer` (None when it is the instant one itself)."""
        if is_instant(recognizer):
            return None
        if self.fallback is None:
            try:
                self.fallback = instant_recognizer(self.threshold)
            except Exception as exc:
                log.warning("no instant fallback: %s", exc)
        return self.fallback

    def crop_size(self) -> int:
        """The aligned crop the recognizer was trained on (adapter metadata), else 224."""
        try:
            return int(getattr(self.current, "crop_size", 224) or 224)
        except (TypeError, ValueError):
            return 224

    def reset_baseline(self) -> bool:
        """Ask the instant recognizer(s) to re-learn every face's neutral baseline; False when
        none of them learns one."""
        done = False
        for r in (self.current, self.fallback):
            reset = getattr(r, "reset_baseline", None)
            if callable(reset):
                reset()  # thread-safe in InstantRecognizer
                done = True
        return done

    def close(self) -> None:
        for r in (self.current, self.fallback):
            if r is not None:
                try:
                    r.close()
                except Exception:
                    log.exception("closing a recognizer failed")
        self.current = self.fallback = None
