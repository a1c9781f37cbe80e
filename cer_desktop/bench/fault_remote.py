"""`cer bench faults`, the remote edges: a server that accepts and never answers
(`hung_server`), and a proxy in the environment that must receive nothing (`proxy`).

Both run what the window runs: `load_recognizer` on the remote page's `RecognizerChoice`, in a
`LiveSession` on real face frames through the real face analyzer, against the local fake
OpenAI-compatible server (`testing/remote_server.py`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LABEL_WAIT_S = 60.0  # the first remote label: the analyzer warms up on a loaded machine


class _Labels:
    """A sink that keeps (time painted, recognizer, frame computed on) of every prediction
    painted (a remote answer takes longer than a frame: it is painted carried over)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[tuple[float, str, int]] = []

    def submit(self, annotation: Any, painted: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            for fa in annotation.faces:
                if fa.prediction is not None:
                    self.seen.append((now, fa.prediction.recognizer, fa.prediction.frame_id))
        return True

    def close(self) -> None:
        pass

    def first(self, recognizer: str, after: float = 0.0) -> float | None:
        with self._lock:
            return next((t for t, r, _ in self.seen if r == recognizer and t >= after), None)

    def count(self, recognizer: str, after: float) -> int:
        with self._lock:
            return len({f for t, r, f in self.seen if r == recognizer and t >= after})


def _wait(predicate: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def _session(url: str, deadline: float, labels: _Labels) -> Any:
    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.labels import RAF_BASIC
    from cer_desktop.session.choice import RecognizerChoice
    from cer_desktop.session.live import LiveSession
    from cer_desktop.session.model_store import load_recognizer
    from cer_desktop.testing.fakes import ListSource

    frames = face_frames(320, 240, 30)
    choice = RecognizerChoice(server=url, served_model="tiny", deadline=deadline)
    recognizer = load_recognizer(choice.to_spec())
    return LiveSession(
        RAF_BASIC,
        recognizer=recognizer,
        recognizer_description=f"remote: tiny @ {url}",
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        max_faces=1,
        sinks=[labels],
    )


def _remote_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cer-remote")]


def hung_server(root: Path, deadline: float = 1.0) -> dict[str, Any]:
    """Labels from a server that then accepts requests and never answers: the instant tier
    must label the frames within the deadline, and closing must return within 1 s."""
    from cer_desktop.testing.remote_server import FakeServer

    labels = _Labels()
    out: dict[str, Any] = {"hung_server_deadline_s": deadline}
    with FakeServer() as server, _environment({"CER_API_KEY": None}):
        s = _session(server.url, deadline, labels)
        closed = False
        try:
            s.start("demo")
            remote_seen = _wait(lambda: labels.first("remote") is not None, LABEL_WAIT_S)
            server.hang = True
            t_hang = time.monotonic()
            _wait(lambda: labels.first("instant", t_hang) is not None, deadline + 10.0)
            t_fallback = labels.first("instant", t_hang)
            hung = server.active >= 1  # requests were really left hanging
            time.sleep(1.0)
            t_close = time.monotonic()
            instant_1s = labels.count("instant", t_close - 1.0)
            hung_at_close = server.active
            s.shutdown()
            close_s = time.monotonic() - t_close
            closed = True
            time.sleep(0.3)
            left = _remote_threads()
        finally:
            server.hang = False
            if not closed:
                s.shutdown()
    fallback_after = None if t_fallback is None else round(t_fallback - t_hang, 3)
    out.update(
        hung_server_remote_labelled=remote_seen,
        hung_server_requests_hung=hung,
        hung_server_fallback_after_s=fallback_after,
        hung_server_instant_frames_last_1s=instant_1s,
        hung_server_requests_in_flight_at_close=hung_at_close,
        hung_server_close_s=round(close_s, 3),
        hung_server_threads_left=left,
    )
    # the margin covers the instant tier's own call and painting the frame
    out["hung_server_ok"] = bool(
        remote_seen
        and hung
        and fallback_after is not None
        and fallback_after <= deadline + 0.5
        and instant_1s >= 5
        and close_s <= 1.0
        and not left
    )
    return out


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the block; restored after."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def proxy(root: Path) -> dict[str, Any]:
    """A proxy in every proxy variable and an API key: the live session, the remote page's
    connection test and the annotate recognizer on a loopback server must send it nothing."""
    from cer_desktop.labels import RAF_BASIC
    from cer_desktop.recognition.factory import create_recognizer
    from cer_desktop.recognition.remote.client import RemoteClient, RemoteError, ServerConfig
    from cer_desktop.session.remote import probe
    from cer_desktop.testing.proxy import ListeningProxy
    from cer_desktop.testing.remote_server import FakeServer

    key = "cer-bench-key-never-to-a-proxy"
    labels = _Labels()
    with ListeningProxy() as p, FakeServer() as server:
        server.api_key = key
        env: dict[str, str | None] = {**p.environment(), "NO_PROXY": None, "no_proxy": None}
        with _environment({**env, "CER_API_KEY": key}):
            s = _session(server.url, 3.0, labels)
            try:
                s.start("demo")
                live = _wait(lambda: labels.count("remote", 0.0) >= 3, LABEL_WAIT_S)
            finally:
                s.shutdown()
            probed, _ = probe(server.url, "tiny")
            annotate = create_recognizer(ServerConfig(server.url, "tiny"))
            try:
                from cer_desktop.testing.fakes import make_face

                offline = bool(annotate.predict([make_face(1)], RAF_BASIC))
            finally:
                annotate.close()
            received, connections = p.received, p.connections
        # control: the same environment does reach the proxy for another machine (without the
        # key: plain http elsewhere refuses it), so an empty proxy above was not just unread
        with _environment({**env, "CER_API_KEY": None}):
            control = RemoteClient(ServerConfig("http://192.0.2.10:8000", "m", retries=0))
            try:
                control.get("/models")
            except RemoteError:
                pass
            finally:
                control.close()
            control_reached = p.connections > connections
    keyed = sum(1 for a in server.seen_auth if a == f"Bearer {key}")
    return {
        "proxy_ok": bool(
            live and probed and offline and control_reached and connections == 0 and not received
        ),
        "proxy_connections": connections,
        "proxy_bytes_received": len(received),
        "proxy_key_leaked": key.encode() in received,
        "proxy_server_requests_with_key": keyed,
        "proxy_live_labelled": live,
        "proxy_probe_ok": probed,
        "proxy_annotate_ok": offline,
        "proxy_control_reached": control_reached,
    }
