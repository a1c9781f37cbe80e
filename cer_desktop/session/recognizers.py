"""The recognizers a session holds (the one in use, its description, the instant fallback) and
what both sessions, live and offline, take from a recognizer: the crop size it was trained
on, the label set it knows, the manifest fields that say what really runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cer_desktop.contracts import Recognizer, StatusEvent
from cer_desktop.labels import LabelSet
from cer_desktop.session.factories import instant_recognizer

log = logging.getLogger(__name__)

INSTANT = "instant"
DEFAULT_CROP_SIZE = 224


def crop_size_for(recognizer: Recognizer | None) -> int:
    """The aligned crop the recognizer was trained on (adapter metadata), else 224."""
    try:
        return int(getattr(recognizer, "crop_size", DEFAULT_CROP_SIZE) or DEFAULT_CROP_SIZE)
    except (TypeError, ValueError):
        return DEFAULT_CROP_SIZE


def label_set_for(
    recognizer: Recognizer | None,
    requested: LabelSet | None = None,
    default: LabelSet | None = None,
) -> LabelSet | None:
    """The label set to score: the one asked for, else the one the recognizer knows (an
    adapter's, a served model's metadata), else `default`."""
    if requested is not None:
        return requested
    own = getattr(recognizer, "label_set", None)
    return own if isinstance(own, LabelSet) else default


def manifest_fields(recognizer: Recognizer | None, label_set: LabelSet) -> dict[str, Any]:
    """What a recording's manifest says about the recognizer that really runs (a model that
    failed to load leaves the instant tier) and the label set."""
    from cer_desktop.recording.manifest import recognizer_fields

    return {"label_set": label_set.name, **recognizer_fields(recognizer, label_set)}


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
