"""`ListeningProxy`: a stand-in HTTP proxy on 127.0.0.1 that records whatever reaches it.

Set its `url` in `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` and check `received` afterwards: a
client that must not use a proxy leaves it empty. Whatever does arrive is kept (so a test can
show the key it leaked) and answered with 502.
"""

from __future__ import annotations

import socket
import threading

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


class ListeningProxy:
    """`with ListeningProxy() as p: ...; p.connections, p.received`."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connections = 0
        self.received = b""
        self._thread = threading.Thread(target=self._serve, name="cer-test-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def environment(self) -> dict[str, str]:
        """Every proxy variable pointing here (NO_PROXY is left to the caller)."""
        return dict.fromkeys(PROXY_VARIABLES, self.url)

    def __enter__(self) -> ListeningProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                with self._lock:
                    self.connections += 1
                conn.settimeout(0.5)
                try:
                    data = conn.recv(65536)
                    with self._lock:
                        self.received += data
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass
