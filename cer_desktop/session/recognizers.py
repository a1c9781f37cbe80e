"""The recognizers a session holds: the one in use, its description, the instant fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable

from cer_desktop.contracts import Recognizer
from cer_desktop.session.factories import instant_recognizer

log = logging.getLogger(__name__)

INSTANT = "instant"


def is_instant(recognizer: Recognizer | None) -> bool:
    return getattr(recognizer, "name", "") == INSTANT


class RecognizerSlot:
    """The recognizer in use and the instant fallback that answers when it raises.

    `on_problem(message)` is told when the instant recognizer cannot be built.
    """

    def __init__(
        self,
        recognizer: Recognizer | None,
        description: str,
        threshold: float,
        on_problem: Callable[[str], object],
    ) -> None:
        self.threshold = threshold
        self._on_problem = on_problem
        self.fallback: Recognizer | None = None
        self.current = recognizer
        self.description = description or getattr(recognizer, "name", "custom")
        if recognizer is None:
            self.current = self.make_instant()
            self.description = INSTANT

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
