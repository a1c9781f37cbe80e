"""The remote tier at its edges: proxies and keys, a hung server, what the live wrapper passes
on (issue 19, defects 2, 4 and 5)."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from cer_desktop.contracts import StatusKind
from cer_desktop.labels import RAF_BASIC
from cer_desktop.recognition.remote.client import (
    InsecureKey,
    RemoteClient,
    RemoteError,
    ServerConfig,
    api_key,
)
from cer_desktop.recognition.remote.fallback import FallbackRecognizer
from cer_desktop.recognition.remote.recognizer import RemoteRecognizer
from cer_desktop.testing.fakes import FixedRecognizer, make_face
from cer_desktop.testing.proxy import ListeningProxy
from cer_desktop.testing.remote_server import FakeServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as s:
        yield s


@pytest.fixture
def proxy(monkeypatch):
    """A listening proxy named in every proxy variable, nothing exempted by NO_PROXY."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ListeningProxy() as p:
        for name, value in p.environment().items():
            monkeypatch.setenv(name, value)
        yield p


def _faces(n: int = 1):
    faces = []
    for i in range(n):
        face = make_face(1, track_id=i)
        img = np.full((224, 224, 3), 40 + 60 * i, np.uint8)
        faces.append(type(face)(face.track_id, 1, face.box, face.landmarks, img, face.quality))
    return faces


def _in_thread(fn, timeout: float):
    """(finished, result or exception, seconds): `fn()` run in a thread, waited for at most
    `timeout` s (a hung call is left behind, daemon, and reported as not finished)."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(timeout)
    return (not t.is_alive()), (out[0] if out else None), time.monotonic() - t0


# -- defect 2: the key and the crops never go to a proxy ---------------------------------
def test_a_proxy_in_the_environment_receives_nothing_for_a_loopback_server(
    server, proxy, monkeypatch
):
    # Given a loopback server with a key, and a proxy in every proxy variable
    server.api_key = "k3y-never-to-the-proxy"
    monkeypatch.setenv("CER_API_KEY", server.api_key)
    rec = None
    try:
        # When the recognizer connects and labels a face
        rec = RemoteRecognizer(ServerConfig(server.url, "tiny", retries=0, timeout=5))
        preds = rec.predict(_faces(1), RAF_BASIC)
    finally:
        if rec is not None:
            rec.close()
    # Then the proxy saw no connection at all, and the server got the key directly
    assert proxy.received == b"", f"the proxy received {proxy.received[:300]!r}"
    assert proxy.connections == 0
    assert preds[0].recognizer == "remote"
    assert server.seen_auth and set(server.seen_auth) == {f"Bearer {server.api_key}"}


def test_other_servers_still_go_through_the_environments_proxy(proxy):
    # a lab network that needs its proxy to reach the GPU server keeps working (no key here)
    client = RemoteClient(ServerConfig("http://192.0.2.10:8000", "m", retries=0, timeout=2))
    try:
        assert client.proxy == proxy.url
        with pytest.raises(RemoteError):
            client.get("/models")  # the stand-in proxy answers 502
    finally:
        client.close()
    assert proxy.received.startswith(b"GET http://192.0.2.10:8000/v1/models")


def test_localhost_names_are_resolved_and_checked_not_trusted(monkeypatch):
    # Given names under .localhost that resolve to loopback, elsewhere, or to both
    table = {
        "box.localhost": ["127.0.0.1", "::1"],
        "lab.localhost": ["10.1.2.3"],
        "mixed.localhost": ["127.0.0.1", "10.1.2.3"],
    }

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(f"unknown {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setenv("CER_API_KEY", "s3cret")
    # Then only the name whose every address is loopback gets the key over plain http
    assert api_key(ServerConfig("http://box.localhost:8000", "m")) == "s3cret"
    for name in ("lab.localhost", "mixed.localhost", "gone.localhost"):
        with pytest.raises(InsecureKey):
            api_key(ServerConfig(f"http://{name}:8000", "m"))
    assert api_key(ServerConfig("https://lab.localhost/v1", "m")) == "s3cret"


# -- defect 5: a hung server -------------------------------------------------------------
def test_a_hung_server_falls_back_within_the_deadline_and_close_returns_within_1s(server):
    # Given a live wrapper over a server that answers, with the annotate-sized timeouts
    # (30 s x 4 tries) and a 0.5 s live deadline
    events = []
    config = ServerConfig(server.url, "tiny", timeout=30.0, retries=3, live_deadline=0.5)
    rec = RemoteRecognizer(config)
    fb = FallbackRecognizer(
        rec, FixedRecognizer(top="Happiness", name="instant"), on_status=events.append,
        retry_after=0.2,
    )  # fmt: skip
    closed = False
    try:
        faces = _faces(1)
        assert fb.predict(faces, RAF_BASIC)[0].recognizer == "remote"
        # When the server starts accepting requests and never answers
        server.hang = True
        done, preds, took = _in_thread(lambda: fb.predict(faces, RAF_BASIC), timeout=5.0)
        # Then the instant tier labels the frame once the deadline has passed
        assert done, "the frame waited more than 5 s for a hung server"
        assert isinstance(preds, list) and preds[0].recognizer == "instant", preds
        # (the margin is scheduling on a loaded 2-core machine; without a deadline: 4 x 30 s)
        assert 0.4 < took < 2.0, f"the fallback answered after {took:.2f} s (deadline 0.5 s)"
        assert [e.kind for e in events] == [StatusKind.REMOTE_UNREACHABLE]
        assert "0.5 s" in events[0].message
        # and the next frames do not wait at all while the server is probed behind them
        t0 = time.monotonic()
        for _ in range(5):
            assert fb.predict(faces, RAF_BASIC)[0].recognizer == "instant"
        assert time.monotonic() - t0 < 1.0, "5 frames would take 2.5 s waiting for the deadline"
        time.sleep(0.5)  # a background probe is now in flight, hung
        assert server.active >= 1, "the server is probed in the background"
        # When the wrapper is closed with that request in flight
        done, _, took = _in_thread(fb.close, timeout=5.0)
        closed = done
        # Then it returns within a second and no request thread is left
        assert done and took <= 1.0, f"close took {took:.2f} s"
        time.sleep(0.2)
        left = [t.name for t in threading.enumerate() if t.name.startswith("cer-remote")]
        assert left == [], f"threads left: {left}"
    finally:
        server.hang = False
        if not closed:
            fb.close()


def test_close_cancels_a_request_in_flight(server):
    rec = RemoteRecognizer(ServerConfig(server.url, "tiny", timeout=30.0, retries=3))
    server.hang = True
    result: list[object] = []
    t = threading.Thread(
        target=lambda: result.append(_in_thread(lambda: rec.predict(_faces(1), RAF_BASIC), 10))
    )
    t.start()
    time.sleep(0.5)
    done, _, took = _in_thread(rec.close, timeout=5.0)
    assert done and took <= 1.0, f"close took {took:.2f} s with a request in flight"
    t.join(2.0)
    assert not t.is_alive() and result and result[0][0], "the request did not end at close"
    assert isinstance(result[0][1], RemoteError), result


def test_annotate_keeps_its_longer_timeouts(server):
    # `cer annotate` uses the bare remote recognizer: a server slower than the live deadline
    # still labels every frame (throughput, not latency)
    from cer_desktop.recognition.factory import create_recognizer

    server.latency = 0.8
    rec = create_recognizer(ServerConfig(server.url, "tiny", live_deadline=0.3))
    try:
        assert isinstance(rec, RemoteRecognizer)
        assert rec.predict(_faces(1), RAF_BASIC)[0].recognizer == "remote"
    finally:
        rec.close()


def test_an_unreachable_server_is_still_a_fallback_not_a_hang(server):
    config = ServerConfig(server.url, "tiny", retries=0, live_deadline=2.0)
    fb = FallbackRecognizer(RemoteRecognizer(config), FixedRecognizer(name="instant"))
    try:
        server.fail_next = 10**6
        t0 = time.monotonic()
        assert fb.predict(_faces(1), RAF_BASIC)[0].recognizer == "instant"
        assert time.monotonic() - t0 < 1.5, "a refused request answers before the deadline"
        assert fb.degraded
    finally:
        fb.close()
