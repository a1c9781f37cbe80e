"""Models and past sessions as the GUI reaches them: a model spec, loading a recognizer,
recovering interrupted recordings. Thin on purpose: the GUI imports nothing below `session`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def model_spec(base: str, adapter: str = "", quant: str = "none", threshold: float = 0.0) -> Any:
    """The `ModelSpec` for these choices (raises its `RecognizerError` for a bad one)."""
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return ModelSpec(base=base, adapter=adapter or None, quant=quant, threshold=threshold)


def load_recognizer(spec: Any, *, progress: Any = None, cancel: Any = None) -> Any:
    """Build the recognizer for `spec` (blocking: call it off the GUI thread). Live, the
    instant tier stands in while a remote server is down."""
    from cer_desktop.recognition.factory import create_recognizer
    from cer_desktop.recognition.live_threads import limit_for_live_view

    recognizer = create_recognizer(spec, progress=progress, cancel=cancel, remote_fallback=True)
    if spec is not None:
        limit_for_live_view()  # $CER_LIVE_TORCH_THREADS, if set, limits torch beside the view
    return recognizer


def recommended_model() -> str:
    """The small base model the app recommends (`cer models pull` downloads it)."""
    from cer_desktop.recognition.lvlm.commands import RECOMMENDED_BASE

    return RECOMMENDED_BASE


def curated_models() -> list[Any]:
    """The curated base models (`catalog.CuratedModel`: id, size, licence, memory, advice)."""
    from cer_desktop.recognition.lvlm.catalog import CURATED

    return list(CURATED)


def local_models(folders: list[str] | None = None) -> list[Any]:
    """The models and adapters usable offline (`cer models`' list): Hugging Face cache plus
    `folders`. Each has kind ("model"/"adapter"), name, path, size_bytes, label_set,
    base_model."""
    from cer_desktop.recognition.lvlm.commands import list_local

    return list(list_local(folders))


def pull_model(
    model_id: str,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Download a model for offline use (`cer models pull`'s code; blocking: call it off the
    GUI thread). Raises on failure; a set `cancel` stops it after the files in progress."""
    from cer_desktop.recognition.lvlm.commands import pull

    return pull(model_id, progress=progress, cancel=cancel)


def recover_unfinished(
    root: str | Path,
    say: Callable[[str], None],
    cancel: threading.Event | None = None,
    *,
    lease_wait_s: float | None = None,
) -> int:
    """Repair the sessions a crash left unfinished under `root` (blocking: seconds per long
    session, and a few seconds more only when another host holds a session's lease). Each
    result, and each session left alone because it is still being recorded, is told through
    `say`; returns how many were recovered. A set `cancel` (the app is quitting) ends the
    wait for leases and recovers nothing more."""
    from cer_desktop.recording.recover import recover_session, scan_unfinished

    try:
        folders, live = scan_unfinished(root, lease_wait_s=lease_wait_s, cancel=cancel)
    except OSError as exc:
        say(f"Could not look for unfinished sessions in {root}: {exc}")
        return 0
    for folder, why in live:
        say(f"Left the session {folder} alone: {why}")
    recovered = 0
    for folder in folders:
        if cancel is not None and cancel.is_set():
            break
        say(f"Recovering the unfinished session {folder}…")
        try:
            report = recover_session(folder, lease_wait_s=0)  # its lease was just watched
        except Exception as exc:  # one broken session must not stop the app
            log.warning("could not recover %s", folder, exc_info=True)
            say(f"Could not recover {folder}: {exc}")
        else:
            recovered += 1
            say(report.event().message)  # says what moved aside (.orig) and why
    return recovered
