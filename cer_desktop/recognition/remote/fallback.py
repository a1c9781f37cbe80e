"""`FallbackRecognizer`: the remote recognizer, with the instant tier standing in while it is down.

Live, a server that stops answering must not stop the view. Each frame waits for the server
at most `deadline` seconds (`ServerConfig.live_deadline`, a few seconds); after that, or when
the server is unreachable, the requests in flight are cancelled, the instant tier answers
(its predictions say "instant", so the window and the CSV's `recognizer` column show which
tier labelled a frame), one `REMOTE_UNREACHABLE` event says so, and from then on the instant
tier answers every frame at once while a background thread (`cer-remote-probe`) tries the
server with the newest frame's faces every `retry_after` seconds. When it answers within the
deadline, `REMOTE_RECONNECTED` says so and the server labels again. Failures other than an
unreachable or late server (401, unknown model) are not hidden: they raise as from any
recognizer.

The wrapper is what the session holds, so it passes on what a session reads from a
recognizer: the served model's label set and crop size, the prompt, the manifest (server,
served model, scoring mode) and the baseline reset of the instant tier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

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
from cer_desktop.recognition.remote.client import RequestCancelled, ServerUnreachable

log = logging.getLogger(__name__)

OnStatus = Callable[[StatusEvent], None]
DEFAULT_DEADLINE = 3.0


class DeadlinePassed(ServerUnreachable):
    """The server did not answer a live frame within the deadline (its requests cancelled)."""


class FallbackRecognizer:
    """`primary` while it answers within `deadline` s; `fallback` at once while it does not
    (the primary is retried in the background every `retry_after` s).

    `deadline` None takes the primary's `config.live_deadline` (3 s without one).
    """

    def __init__(
        self,
        primary: Recognizer,
        fallback: Recognizer,
        *,
        on_status: OnStatus | None = None,
        retry_after: float = 5.0,
        deadline: float | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self._on_status = on_status
        self._retry_after = retry_after
        config = getattr(primary, "config", None)
        self.deadline = float(deadline or getattr(config, "live_deadline", 0) or DEFAULT_DEADLINE)
        self._lock = threading.Lock()
        self._down = False
        self._latest: tuple[Sequence[Face], LabelSet] | None = None  # for the probe
        self._closed = threading.Event()
        self._calls = ThreadPoolExecutor(1, thread_name_prefix="cer-remote-call")
        self._prober: threading.Thread | None = None

    # -- what a session reads from its recognizer ------------------------------------------
    @property
    def label_set(self) -> LabelSet | None:
        """The served model's label set (from `--model-meta`), None without one."""
        own = getattr(self.primary, "label_set", None)
        return own if isinstance(own, LabelSet) else None

    @property
    def crop_size(self) -> int:
        """The crop the served model was trained on (the instant tier takes any size)."""
        return int(getattr(self.primary, "crop_size", 224) or 224)

    @property
    def prompt(self) -> Any:
        return getattr(self.primary, "prompt", None)

    @property
    def mode(self) -> str | None:
        """The server's scoring mode (recorded as the manifest's `recognizer_mode`)."""
        mode = getattr(self.primary, "mode", None)
        return mode if isinstance(mode, str) else None

    def prompt_for(self, label_set: LabelSet) -> Any:
        own = getattr(self.primary, "prompt_for", None)
        return own(label_set) if callable(own) else self.prompt

    def describe(self) -> str:
        own = getattr(self.primary, "describe", None)
        return (own() if callable(own) else self.name) + f"; instant tier after {self.deadline:g} s"

    def manifest(self) -> dict[str, Any]:
        """The primary's manifest (server, served model, scoring mode; never a key) and how the
        fallback works: frames it labelled carry `instant` in the CSV's `recognizer` column."""
        own = getattr(self.primary, "manifest", None)
        out = dict(own()) if callable(own) else {}
        out["fallback"] = {
            "recognizer": getattr(self.fallback, "name", type(self.fallback).__name__),
            "deadline_s": self.deadline,
            "retry_after_s": self._retry_after,
        }
        return out

    def reset_baseline(self) -> None:
        """The instant tier standing in learns faces' neutral baselines: reset them too."""
        for r in (self.primary, self.fallback):
            reset = getattr(r, "reset_baseline", None)
            if callable(reset):
                reset()

    def set_status_sink(self, on_status: OnStatus | None) -> None:
        """Where the unreachable/reconnected events go (a live session passes its own)."""
        self._on_status = on_status

    @property
    def degraded(self) -> bool:
        """True while the stand-in answers."""
        return self._down

    # -- predictions ----------------------------------------------------------------------
    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        with self._lock:
            down = self._down
            self._latest = (tuple(faces), label_set)
        if not down:
            try:
                return self._call_primary(faces, label_set)
            except ServerUnreachable as exc:
                if self._closed.is_set():
                    raise
                self._went_down(exc)
            except RequestCancelled:  # `cancel()`: the run stops; the stand-in answers
                if self._closed.is_set():
                    raise
        return self.fallback.predict(faces, label_set)

    def cancel(self) -> None:
        """End the server call in progress now (the run is stopping): it is answered by the
        instant tier at once instead of at the deadline. Later calls work as before."""
        self._cancel_primary()

    def _call_primary(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        """The primary's answer within the deadline; past it, its requests are cancelled and
        `DeadlinePassed` raised."""
        try:
            future = self._calls.submit(self.primary.predict, faces, label_set)
        except RuntimeError as exc:  # closed meanwhile
            raise RequestCancelled("the remote recognizer was closed") from exc
        try:
            return future.result(timeout=self.deadline)
        except FutureTimeout:
            self._cancel_primary()
            raise DeadlinePassed(
                f"no answer within the live deadline of {self.deadline:g} s"
            ) from None
        except CancelledError as exc:
            raise RequestCancelled("the remote recognizer was closed") from exc

    def _cancel_primary(self) -> None:
        cancel = getattr(self.primary, "cancel", None)
        if callable(cancel):
            try:
                cancel()
            except Exception:  # noqa: BLE001 - cancelling is best effort; the deadline holds
                log.exception("cancelling the remote requests failed")

    def _went_down(self, exc: Exception) -> None:
        with self._lock:
            first, self._down = not self._down, True
            if first and not self._closed.is_set():
                self._prober = threading.Thread(
                    target=self._probe_until_up, name="cer-remote-probe", daemon=True
                )
                self._prober.start()
        if first:
            self._emit(
                status(
                    StatusKind.REMOTE_UNREACHABLE,
                    f"remote server unreachable; instant tier stands in ({exc})",
                    Severity.WARNING,
                    error=type(exc).__name__,
                    deadline_s=self.deadline,
                )
            )

    def _probe_until_up(self) -> None:
        """Background: try the server with the newest faces until it answers in time."""
        while not self._closed.wait(self._retry_after):
            with self._lock:
                latest = self._latest
            if latest is None:
                continue
            try:
                self._call_primary(*latest)
            except ServerUnreachable as exc:
                log.info("remote server still unreachable: %s", exc)
                continue
            except RequestCancelled:  # closing (the loop ends) or a run stopping
                continue
            except Exception as exc:  # noqa: BLE001 - 401 or unknown model now: keep standing in
                log.warning("remote server answers with an error: %s", exc)
                continue
            with self._lock:
                if self._closed.is_set():
                    return
                self._down = False
            self._emit(status(StatusKind.REMOTE_RECONNECTED, "remote server answers again"))
            return

    def _emit(self, event: StatusEvent) -> None:
        log.log(30 if event.severity is not Severity.INFO else 20, "%s", event.message)
        sink = self._on_status
        if sink is not None:
            sink(event)

    def close(self) -> None:
        """Cancel the server's requests in flight and stop the probe: returns within a
        second even when the server hangs. Safe to call twice."""
        self._closed.set()
        self._cancel_primary()
        self._calls.shutdown(wait=False, cancel_futures=True)
        prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(1.0)
        self.primary.close()  # its own requests were cancelled: their threads end now
        self.fallback.close()
        self._calls.shutdown(wait=True)
