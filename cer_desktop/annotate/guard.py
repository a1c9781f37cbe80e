"""`cer annotate`'s watch on its recognizer: frames it could not label, and a server gone.

A frame whose prediction failed is still written (the video and the CSV keep every frame), but
without labels; an input with more such frames than `--max-recognizer-errors` is not finished:
`unlabelled_verdict` makes it a failure ("K of M frames unlabelled") that the next run redoes.
A server that stops answering ends the input at once (`WatchedRecognizer`), instead of every
remaining frame waiting out the client's retries; before the next input starts, the server is
asked once, without retries (`server_down`), and while it stays down each input fails at once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from cer_desktop.contracts import Face, Prediction, Recognizer
from cer_desktop.labels import LabelSet
from cer_desktop.pipeline.stats import PipelineStats
from cer_desktop.recognition.remote.client import RemoteError, ServerConfig, ServerUnreachable

__all__ = ["PROBE_TIMEOUT_S", "WatchedRecognizer", "server_down", "unlabelled_verdict"]

#: The one probe before an input waits at most this long for the server's model list.
PROBE_TIMEOUT_S = 5.0


class WatchedRecognizer:
    """Passes every call to `inner`; when one fails because the server is unreachable, keeps
    the reason and calls `on_unreachable` (the input's source stops after the frame being
    read, so the input ends now rather than after every remaining frame's retries).

    Errors still propagate: the pipeline counts them and writes the frame without labels.
    """

    def __init__(self, inner: Recognizer, on_unreachable: Callable[[], None]) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        # several requests in flight when the inner recognizer serves them (a server)
        self.max_concurrent_requests = getattr(inner, "max_concurrent_requests", 1)
        self.unreachable = ""  # the first "server unreachable" reason, empty while it answers
        self._on_unreachable = on_unreachable
        self._lock = threading.Lock()

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        try:
            return self.inner.predict(faces, label_set)
        except ServerUnreachable as exc:
            with self._lock:
                first = not self.unreachable
                self.unreachable = self.unreachable or str(exc)
            if first:
                self._on_unreachable()
            raise

    def close(self) -> None:
        """The inner recognizer is the caller's to close (one model serves every input)."""


def unlabelled_verdict(
    stats: PipelineStats, max_errors: int, unreachable: str = ""
) -> tuple[int, str]:
    """(frames without labels, the failure message or "" when the input may count as done).

    A frame is unlabelled when its recognizer call failed (`recognizer_errors`: one call per
    frame with faces); `max_errors` of them are tolerated per input, none by default.
    """
    unlabelled = stats.recognizer_errors
    needing = stats.frames_captured - stats.frames_without_face
    counted = f"{unlabelled} of {needing} frames unlabelled"
    if unreachable:
        return unlabelled, (
            f"{counted}; the server stopped answering, the input was ended there ({unreachable})"
        )
    if unlabelled > max_errors:
        allowed = f"--max-recognizer-errors {max_errors}"
        return unlabelled, f"{counted} (more than {allowed}): {stats.last_error}"
    return unlabelled, ""


def server_down(spec: Any) -> str:
    """Why `spec`'s server cannot be reached now ("" when it answers, or `spec` is not a
    server): one request for its model list, no retries, at most `PROBE_TIMEOUT_S`."""
    if not isinstance(spec, ServerConfig):
        return ""
    from cer_desktop.recognition.remote.client import RemoteClient

    quick = dataclasses.replace(spec, retries=0, timeout=min(spec.timeout, PROBE_TIMEOUT_S))
    client = RemoteClient(quick)
    try:
        client.get("/models")
    except ServerUnreachable as exc:
        return str(exc)
    except RemoteError:  # it answers (a refused key...): the input's own calls will say what
        return ""
    finally:
        client.close()
    return ""
