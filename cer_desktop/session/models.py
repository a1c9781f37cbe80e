"""Models and past sessions as the GUI reaches them: a model spec, loading a recognizer,
recovering interrupted recordings. Thin on purpose: the GUI imports nothing below `session`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def model_spec(base: str, adapter: str = "", quant: str = "none", threshold: float = 0.0) -> Any:
    """The `ModelSpec` for these choices (raises its `RecognizerError` for a bad one)."""
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return ModelSpec(base=base, adapter=adapter or None, quant=quant, threshold=threshold)


def load_recognizer(spec: Any, *, progress: Any = None, cancel: Any = None) -> Any:
    """Build the recognizer for `spec` (blocking: call it off the GUI thread)."""
    from cer_desktop.recognition.factory import create_recognizer
    from cer_desktop.recognition.live_threads import limit_for_live_view

    recognizer = create_recognizer(spec, progress=progress, cancel=cancel)
    if spec is not None:
        limit_for_live_view()  # leave the live view a core (capture, MediaPipe, recorder)
    return recognizer


def recover_unfinished(root: str | Path, say: Callable[[str], None]) -> int:
    """Repair the sessions a crash left unfinished under `root` (blocking: seconds per long
    session). Each result is told through `say`; returns how many were recovered."""
    from cer_desktop.recording.recover import find_unfinished, recover_session

    try:
        folders = find_unfinished(root)
    except OSError as exc:
        say(f"Could not look for unfinished sessions in {root}: {exc}")
        return 0
    recovered = 0
    for folder in folders:
        say(f"Recovering the unfinished session {folder}…")
        try:
            report = recover_session(folder)
        except Exception as exc:  # one broken session must not stop the app
            log.warning("could not recover %s", folder, exc_info=True)
            say(f"Could not recover {folder}: {exc}")
        else:
            recovered += 1
            say(report.event().message)  # says what moved aside (.orig) and why
    return recovered
