"""The model store as the GUI reaches it: the models found on this machine, downloading one,
loading the recognizer a `RecognizerChoice` names. Thin on purpose: the GUI imports nothing below `session`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


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
