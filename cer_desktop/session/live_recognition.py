"""The recognizer-facing part of a `LiveSession`: which recognizer runs, the crop size it
wants, and the face analyzer built for it and for the face limit.

Split from live.py by role (live.py starts and stops runs and owns the events). A change that
needs another analyzer (the face limit, a model trained on another crop size) is applied to
the running pipeline between two frames (`FrameProcessor.replace_analyzer`): the run, the
view and a recording go on, and a recording logs a `setting` event saying what changed after
which frame. A change whose analyzer cannot be built is refused with a message; the old
setting stays.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from cer_desktop.contracts import Recognizer, Severity, StatusEvent, StatusKind, status
from cer_desktop.session.events import RecognizerChanged, SessionEvent
from cer_desktop.session.factories import AnalyzerCache
from cer_desktop.session.recognizers import RecognizerSlot, crop_size_for

if TYPE_CHECKING:
    from cer_desktop.pipeline.pipeline import Pipeline
    from cer_desktop.session.recording import SessionRecording

log = logging.getLogger(__name__)


class LiveRecognition:
    """The analyzer and recognizers of a `LiveSession` (a mixin; the session sets the state)."""

    _lock: threading.RLock
    _pipeline: Pipeline | None
    _analyzers: AnalyzerCache
    _recognizers: RecognizerSlot
    _max_faces: int
    recording: SessionRecording

    def emit(self, event: SessionEvent) -> None:  # pragma: no cover - LiveSession's
        raise NotImplementedError

    def report(
        self, kind: StatusKind, message: str, severity: Severity = Severity.INFO, **payload: Any
    ) -> StatusEvent:  # pragma: no cover - LiveSession's
        raise NotImplementedError

    def _finish_stopping(self) -> None:  # pragma: no cover - LiveSession's
        raise NotImplementedError

    @property
    def max_faces(self) -> int:
        return self._max_faces

    def crop_size(self) -> int:
        """The aligned crop the recognizer was trained on (adapter metadata), else 224."""
        return crop_size_for(self._recognizers.current)

    def _ensure_analyzer(self) -> Any:
        try:
            return self._analyzers.get(self._max_faces, self.crop_size())
        except Exception as exc:
            message = f"Face analysis unavailable: {exc}"
            self.report(StatusKind.ANALYSIS_ERROR, message, Severity.ERROR)
            return None

    def _apply_analyzer(self, pipeline: Pipeline, what: str) -> bool:
        """Build the analyzer for the current face limit and crop size and hand it to the
        running `pipeline` between two frames; the replaced one is closed. False (with a
        message) when it cannot be built: the running one stays."""
        new: Any = None
        try:
            new = self._analyzers.build(self._max_faces, self.crop_size())
            warm_up = getattr(new, "warm_up", None)
            if callable(warm_up):
                warm_up()  # here, not on the capture thread: no frame waits for its graph
        except Exception as exc:
            AnalyzerCache.close_one(new)
            log.warning("building the face analyzer for %s failed", what, exc_info=True)
            self.report(
                StatusKind.ANALYSIS_ERROR,
                f"Cannot apply {what}: {exc}; the previous setting stays",
                Severity.ERROR,
            )
            return False
        old = pipeline.processor.replace_analyzer(new)
        self._analyzers.analyzer = new
        if old is not new:
            AnalyzerCache.close_one(old)
        return True

    def _note_change(self, setting: str, message: str, **fields: Any) -> None:
        """Say a setting changed; a recording logs it at its newest frame and goes on."""
        logged = self.recording.note_change(setting, **fields)
        if logged is not None:
            frame = logged.get("frame")
            after = f"; changed after frame {frame}" if frame is not None else ""
            message += f" (recording continues{after})"
        self.report(StatusKind.INFO, message, setting=setting, **fields)

    def set_max_faces(self, n: int) -> None:
        """Analyse at most `n` faces. A running session applies it between two frames (a
        recording goes on and logs the change); one whose analyzer cannot be built keeps
        the old limit and says so."""
        with self._lock:
            old, self._max_faces = self._max_faces, int(n)
            p = self._pipeline
            if p is None or old == self._max_faces:
                return
            if not self._apply_analyzer(p, f"Faces: {n}"):
                self._max_faces = old
                return
            self._note_change("max_faces", f"Faces: {n}", old=old, new=self._max_faces)

    def use_instant(self) -> bool:
        """Switch to the instant recognizer (no weights); False when it is unavailable."""
        rec = self._recognizers.make_instant()
        if rec is not None:
            self.set_recognizer(rec, "instant")
        return rec is not None

    def set_recognizer(self, recognizer: Recognizer, description: str) -> None:
        """Use `recognizer` from now on; the session closes the one it replaces once no call
        uses it. A model that wants another crop size gets a matching analyzer between two
        frames; the run and a recording go on (the recording logs the change)."""
        with self._lock:
            crop_before = self.crop_size()
            old = self._recognizers.use(recognizer, description)
            p = self._pipeline
            if p is not None:
                crop = self.crop_size()
                if self._analyzers.crop_size not in (None, crop):
                    # the analyzer first: frames from now on carry the crop the model wants
                    self._apply_analyzer(p, f"the crop size {crop} of {description}")
                p.set_recognizer(recognizer)  # the worker closes the old one
                p.set_fallback(self._recognizers.fallback_for(recognizer))
                if self.recording.active and old is not recognizer:
                    self._note_change(
                        "recognizer",
                        f"Recognizer: {description}",
                        old=getattr(old, "name", None),
                        new=getattr(recognizer, "name", None),
                        crop_size_before=crop_before,
                        crop_size=crop,
                    )
            elif old is not None and old is not recognizer:
                self._finish_stopping()  # a stopped run may still be running it
                old.close()
            name = getattr(recognizer, "name", "")
            event = status(
                StatusKind.RECOGNIZER_CHANGED, f"Recognizer: {description}", recognizer=name
            )
            self.emit(RecognizerChanged(name, description, event))

    def reset_baseline(self) -> bool:
        """Ask the instant recognizer(s) to re-learn every face's neutral baseline; False when
        the current recognizer learns none."""
        return self._recognizers.reset_baseline()
