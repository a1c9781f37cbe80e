"""The HTTP client for OpenAI-compatible servers: settings, API-key rules, retries, named errors.

One `httpx.Client` per server (connection pooling; thread-safe, so one frame's requests go out
together). Retries are bounded, with exponential backoff, and only for failures that a second
try can fix: 429, 5xx, a refused or dropped connection, a timeout. Everything else raises at
once with a message that says what to do.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cer_desktop.contracts import RecognizerError
from cer_desktop.recognition.remote.transport import (
    SocketTracker,
    environment_proxy,
    make_transport,
    resolves_to_loopback,
)
from cer_desktop.settings import API_KEY_ENV, CREDENTIALS_NOTE, strip_url_credentials

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class RemoteError(RecognizerError):
    """A remote server could not be used; the message says why and what to do."""


class ServerUnreachable(RemoteError):
    """No answer: wrong URL, server down, dropped connection or timeout (after retries)."""


class Unauthorized(RemoteError):
    """The server refused the API key (401/403)."""


class UnknownModel(RemoteError):
    """The server does not serve the model name asked for."""


class ServerFailed(RemoteError):
    """The server answered with an error, or with something this client cannot read."""


class InsecureKey(RemoteError):
    """An API key would travel over plain http to a non-loopback host."""


class RequestCancelled(RemoteError):
    """A request was cancelled (`RemoteClient.cancel`: a live deadline passed, or closing)."""


def is_loopback(host: str) -> bool:
    """True when `host` is this machine: a loopback address, or a name (`localhost`,
    `lab.localhost`, a hosts-file entry) whose every address is loopback once resolved.
    Blocking (a DNS lookup for names)."""
    return resolves_to_loopback(host)


def normalise_url(url: str) -> str:
    """The API root ending in `/v1` (a bare `http://host:8000` gets `/v1` appended)."""
    raw = (url or "").strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(
            f"server URL {url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:8000/v1"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path = f"{path}/v1"
    port = f":{parts.port}" if parts.port else ""
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}{port}{path}"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where the server is and how to talk to it. The API key is never a field (see `api_key`).

    `timeout`: seconds per request (connect and read); `retries`: extra tries after a
    retryable failure; `backoff`: first wait in seconds, doubled per try (with jitter);
    `verify`: TLS certificate verification (on by default; a CA bundle path also works);
    `in_flight`: requests sent together (one frame's labels and faces); `model_meta`: the
    served model's `cer_adapter.json` (or the folder holding it: `cer export --merge` writes it
    beside the merged model), so the prompt, crop size and label set are those it was trained
    with; empty: the label set's own prompt, as a base model. `live_deadline`: live only, the
    seconds a frame waits for the server before the instant tier answers (`cer annotate`
    waits `timeout` x tries instead: throughput, not latency). A `user:password@` in `url` is
    dropped (never sent or recorded; the key comes from `CER_API_KEY`).
    """

    url: str
    model: str
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.25
    verify: bool | str = True
    in_flight: int = 8
    model_meta: str = ""
    live_deadline: float = 3.0

    def __post_init__(self) -> None:
        if strip_url_credentials(self.url)[1]:
            log.warning("server URL: %s", CREDENTIALS_NOTE)
        object.__setattr__(self, "url", normalise_url(self.url))  # credentials dropped
        if not (self.model or "").strip():
            raise RemoteError("a remote server needs a served model name (--served-model NAME)")
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0 or self.in_flight < 1:
            raise RemoteError(
                "remote settings need timeout > 0, retries >= 0, backoff >= 0, in_flight >= 1"
            )
        if not self.live_deadline > 0:
            raise RemoteError("the live deadline must be > 0 seconds")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def describe(self) -> str:
        """Server and model for status bars and manifests (never the key)."""
        return f"{self.model} @ {self.url}"


def api_key(config: ServerConfig, loopback: bool | None = None) -> str | None:
    """The API key from `CER_API_KEY` (only there), or None; refused over plain remote http.

    The key goes only to https servers or to hosts that resolve to loopback addresses only
    (`loopback`, when the caller has resolved it already): plain http elsewhere would send it
    readable over the network.
    """
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        return None
    if loopback is None:
        loopback = is_loopback(config.host)
    if urlsplit(config.url).scheme != "https" and not loopback:
        raise InsecureKey(
            f"{API_KEY_ENV} is set but {config.url} is plain http to another machine: the key "
            "is only sent over https (or to this machine). Use an https URL, or unset the key."
        )
    return key


class RemoteClient:
    """A pooled, retrying JSON client for one server. Thread-safe; `close()` when done.

    A loopback server (by resolution) is reached directly, never through a proxy from the
    environment; other servers through the environment's proxy, if any (`proxy`). `cancel()`
    ends every request in flight at once (from any thread).
    """

    def __init__(self, config: ServerConfig, transport: Any = None) -> None:
        import httpx

        self.config = config
        self.loopback = is_loopback(config.host)
        headers = {"User-Agent": "cer-desktop"}
        key = api_key(config, self.loopback)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=max(config.in_flight, 1) * 2)
        scheme = urlsplit(config.url).scheme
        self.proxy = None if self.loopback else environment_proxy(scheme, config.host)
        self._tracker = SocketTracker()
        if transport is None:
            transport = make_transport(
                verify=config.verify, limits=limits, proxy=self.proxy, tracker=self._tracker
            )
        self._http = httpx.Client(
            base_url=config.url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            verify=config.verify,
            limits=limits,
            transport=transport,
            trust_env=False,  # proxies are decided above, never read again by httpx
        )
        self._closed = False
        self._wake = threading.Event()  # cuts a retry's backoff short on cancel()
        self._wake_lock = threading.Lock()

    def cancel(self) -> int:
        """End every request in flight now: their sockets are shut down and they raise
        `RequestCancelled` instead of retrying. Later requests run normally. Returns how
        many connections were cut."""
        cut = self._tracker.cancel()
        with self._wake_lock:
            self._wake.set()
            self._wake = threading.Event()
        return cut

    def close(self) -> None:
        """Cancel what is in flight and close the connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self.cancel()
            self._http.close()

    @property
    def generation(self) -> int:
        """The cancel generation now: requests begun in an older one are cancelled."""
        return self._tracker.generation

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any], generation: int | None = None) -> Any:
        return self.request("POST", path, body, generation)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        generation: int | None = None,
    ) -> Any:
        """The decoded JSON answer; retries 429/5xx/connection failures, then raises by name.
        `generation`: the one the caller's work began in (its requests queued behind others
        are then cancelled with it); default now."""
        import httpx

        if self._closed:
            raise RemoteError("the remote client was closed")
        cfg = self.config
        with self._wake_lock:
            wake = self._wake
            generation = self._tracker.generation if generation is None else generation
        last = ""
        for attempt in range(cfg.retries + 1):
            if attempt:
                wait = cfg.backoff * (2 ** (attempt - 1)) * (1.0 + 0.25 * random.random())
                wake.wait(wait)
            self._check_cancelled(generation, path)
            self._tracker.begin(generation)
            try:
                resp = self._http.request(method, path, json=body)
            except httpx.TimeoutException:
                last = f"no answer within {cfg.timeout:g} s"
                self._check_cancelled(generation, path)
                continue
            except httpx.TransportError as exc:  # refused, reset, dropped mid-answer, DNS
                self._check_cancelled(generation, path)
                last = f"{type(exc).__name__}: {exc}"
                continue
            except RuntimeError:  # httpx: the client was closed by another thread meanwhile
                self._check_cancelled(generation, path)
                raise
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {_detail(resp)}"
                continue
            return self._decode(resp, path)
        raise ServerUnreachable(
            f"the server at {cfg.url} did not answer {path} after {cfg.retries + 1} tries ({last})"
        )

    def _check_cancelled(self, generation: int, path: str) -> None:
        if self._closed or self._tracker.generation != generation:
            raise RequestCancelled(f"the request for {path} to {self.config.url} was cancelled")

    def _decode(self, resp: Any, path: str) -> Any:
        cfg = self.config
        if resp.status_code in (401, 403):
            hint = (
                f"set {API_KEY_ENV} to the server's key"
                if API_KEY_ENV not in os.environ
                else f"{API_KEY_ENV} is not accepted"
            )
            raise Unauthorized(
                f"the server at {cfg.url} refused access (HTTP {resp.status_code}): {hint}"
            )
        if resp.status_code == 404 and "model" in _detail(resp).lower():
            raise UnknownModel(f"the server at {cfg.url} does not serve model {cfg.model!r}")
        if resp.status_code == 404:
            raise ServerFailed(
                f"{cfg.url}{path} does not exist (HTTP 404): is this an OpenAI-compatible "
                "server, and does the URL end in /v1?"
            )
        if resp.status_code >= 400:
            raise ServerFailed(
                f"the server at {cfg.url} rejected {path} (HTTP {resp.status_code}): {_detail(resp)}"
            )
        try:
            return resp.json()
        except ValueError as exc:
            raise ServerFailed(f"the server at {cfg.url} answered {path} with non-JSON") from exc


def _detail(resp: Any) -> str:
    """The server's error message, short (vLLM: {"error": {"message": ...}} or {"message": ...})."""
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:200]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:200]
        return str(data.get("message") or data.get("detail") or err)[:200]
    return str(data)[:200]
