"""`create_recognizer`: a `Recognizer` from a model spec (None = the instant recognizer)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cer_desktop.contracts import Recognizer, RecognizerError
from cer_desktop.recognition.lvlm.spec import ModelSpec
from cer_desktop.recognition.remote.client import ServerConfig

Progress = Callable[[float, str], None]


def create_recognizer(
    spec: ModelSpec | ServerConfig | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    remote_fallback: bool = False,
) -> Recognizer:
    """Build the recognizer for `spec`: an `LVLMRecognizer`, a `RemoteRecognizer` for a
    `ServerConfig` (live: `remote_fallback` lets the instant tier stand in while the server is
    down), or the instant one for None.

    Slow for a model (loading, warm-up): call it off the UI thread. `progress(fraction,
    message)` is called between steps; setting `cancel` makes it raise `LoadCancelled` at the
    next step and discard what was loaded. Failures raise `RecognizerError` subclasses whose
    message says what to do (`MissingExtraError` when the `lvlm` extra is not installed).
    """
    if spec is None:
        from cer_desktop.recognition.instant import InstantRecognizer

        if progress is not None:
            progress(1.0, "instant recognizer ready")
        return InstantRecognizer()
    if isinstance(spec, ServerConfig):
        return _create_remote(spec, progress, remote_fallback)
    from cer_desktop.extras import require_extra

    # Before anything heavy: the light core has no torch; say which extra to install.
    also = ["bitsandbytes"] if spec.quantized else []
    require_extra("lvlm", f"the LVLM recognizer ({spec.describe()})", also)
    from cer_desktop.recognition.lvlm.recognizer import LVLMRecognizer

    try:
        return LVLMRecognizer(spec, progress=progress, cancel=cancel)
    except RecognizerError:
        raise
    except MemoryError as exc:
        raise RecognizerError(f"not enough memory to load {spec.describe()}") from exc
    except Exception as exc:  # anything unforeseen still reaches the user as a named error
        raise RecognizerError(f"cannot start the model {spec.describe()}: {exc}") from exc


def _create_remote(config: ServerConfig, progress: Progress | None, fallback: bool) -> Recognizer:
    from cer_desktop.recognition.remote.recognizer import RemoteRecognizer

    if progress is not None:
        progress(0.1, f"connecting to {config.url}")
    remote = RemoteRecognizer(config)  # probes the server: named errors for URL, model, key
    if progress is not None:
        progress(1.0, f"remote recognizer ready: {remote.describe()}")
    if not fallback:
        return remote
    from cer_desktop.recognition.instant import InstantRecognizer
    from cer_desktop.recognition.remote.fallback import FallbackRecognizer

    return FallbackRecognizer(remote, InstantRecognizer())
