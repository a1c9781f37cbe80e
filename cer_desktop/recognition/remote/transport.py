"""How the remote client reaches a server: loopback by resolution, proxies, cancellable sockets.

- A host counts as "this machine" only when every address it resolves to is a loopback
  address: `lab.localhost` or a hosts-file entry is resolved and checked, never trusted by its
  name (an API key over plain http goes only there).
- Proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) are used
  for other hosts as the institution configured them, but never for a loopback server: a proxy
  would otherwise receive the key and the face crops in clear text.
- Every socket the client opens is tracked, so `SocketTracker.cancel()` can shut down the
  connections of requests in flight from another thread: a blocked read returns at once
  (closing a socket from another thread does not wake a blocked `recv` on Linux; `shutdown`
  does).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import urllib.request
import weakref
from typing import Any

log = logging.getLogger(__name__)


def is_loopback_address(host: str) -> bool:
    """True for a loopback IP literal (127.0.0.0/8, ::1); names are not resolved here."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def resolves_to_loopback(host: str) -> bool:
    """True when `host` is a loopback address, or a name all of whose addresses are loopback.

    A name that does not resolve is not loopback (the key is then refused over plain http,
    which errs on the safe side). Blocking (a DNS lookup): not for the GUI thread.
    """
    host = host.strip("[]")
    if not host:
        return False
    if is_loopback_address(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(is_loopback_address(str(a)) for a in addresses)


def environment_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for `scheme://host` (stdlib rules, `NO_PROXY` honoured),
    or None. Callers never ask this for a loopback server."""
    proxies = urllib.request.getproxies()
    if not proxies:
        return None
    try:
        if urllib.request.proxy_bypass(host):
            return None
    except OSError:  # proxy_bypass may resolve the name; unknown names are not bypassed
        pass
    return proxies.get(scheme) or proxies.get("all")


class SocketTracker:
    """The sockets of one client's connections, and a cancel generation.

    `cancel()` bumps the generation and shuts every open socket down. A request records the
    generation it began in (`begin`, per thread: httpx's sync client connects in the calling
    thread); a socket connected for a request of an older generation is shut down at once,
    so a request that raced past its cancel cannot open a fresh connection and hang there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._local = threading.local()
        self.generation = 0

    def begin(self, generation: int) -> None:
        """The calling thread is about to send a request that began in `generation`."""
        self._local.generation = generation

    def add(self, sock: Any) -> None:
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            stale = getattr(self._local, "generation", self.generation) != self.generation
            if not stale:
                self._sockets.add(sock)
        if stale:
            _shutdown(sock)

    def cancel(self) -> int:
        """Shut down every tracked socket (in-flight reads end with an error); how many."""
        with self._lock:
            self.generation += 1
            socks = list(self._sockets)
            self._sockets = weakref.WeakSet()
        return sum(_shutdown(sock) for sock in socks)


def _shutdown(sock: socket.socket) -> bool:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed or never connected
        return False
    return True


def _tracking_backend(tracker: SocketTracker) -> Any:
    """An httpcore network backend that registers each connection's socket with `tracker`."""
    import httpcore

    class TrackedStream(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner
            tracker.add(inner.get_extra_info("socket"))

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return bytes(self._inner.read(max_bytes, timeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, timeout)

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            # TLS wraps the socket into a new one (the old object is detached): track that
            return TrackedStream(self._inner.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class TrackingBackend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return TrackedStream(self._inner.connect_tcp(*args, **kwargs))

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
            return TrackedStream(self._inner.connect_unix_socket(*args, **kwargs))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return TrackingBackend()


def make_transport(
    *, verify: bool | str, limits: Any, proxy: str | None, tracker: SocketTracker
) -> Any:
    """An `httpx.HTTPTransport` with an explicit proxy (or none) whose sockets `tracker` sees.

    Passing a transport also switches off httpx's own reading of proxy variables (it reads
    them only when no transport is given), so `proxy` is the only proxy ever used.
    """
    import httpx

    # trust_env here only means SSL_CERT_FILE / SSL_CERT_DIR (an institution's CA bundle)
    transport = httpx.HTTPTransport(verify=verify, limits=limits, proxy=proxy, trust_env=True)
    pool = getattr(transport, "_pool", None)
    # httpcore takes a network backend only at construction, and httpx builds the pool
    # itself: set it before the first connection exists. Detected, not assumed: without it
    # the client still works, with cancellation left to its timeouts.
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _tracking_backend(tracker)
    else:  # pragma: no cover - another httpx/httpcore layout
        log.warning("httpx transport without a network backend: requests cannot be cancelled")
    return transport
