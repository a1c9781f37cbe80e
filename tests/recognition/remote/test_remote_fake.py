"""The remote recognizer against the local test server: scoring modes, faults, keys, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cer_desktop.contracts import StatusKind
from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.recognition.remote import protocol
from cer_desktop.recognition.remote.client import (
    InsecureKey,
    RemoteError,
    ServerConfig,
    ServerUnreachable,
    Unauthorized,
    UnknownModel,
    is_loopback,
    normalise_url,
)
from cer_desktop.recognition.remote.fallback import FallbackRecognizer
from cer_desktop.recognition.remote.probe import probe_server
from cer_desktop.recognition.remote.recognizer import RemoteRecognizer
from cer_desktop.testing.fakes import FixedRecognizer, make_face
from cer_desktop.testing.remote_server import END, FakeServer, expected_log_likelihood


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as s:
        yield s


def _config(server: FakeServer, **kw) -> ServerConfig:
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5.0)
    return ServerConfig(server.url, "tiny", **kw)


def _faces(n: int = 2):
    faces = []
    for i in range(n):
        face = make_face(1, track_id=i)
        img = np.full((224, 224, 3), 40 + 60 * i, np.uint8)
        img[:, : 20 * (i + 1)] = 255  # faces differ
        faces.append(type(face)(face.track_id, 1, face.box, face.landmarks, img, face.quality))
    return faces


def test_probe_reports_engine_mode_and_end_of_answer(server):
    info = probe_server(_config(server))
    assert info.engine == "fake 1.0"
    assert info.mode == "prompt_logprobs" and info.prompt_logprobs and info.first_token_logprobs
    assert info.end_of_answer == END and info.end_of_answer_source == "server"
    assert info.manifest()["exact"] is True


def test_exact_mode_sums_the_label_and_end_tokens_after_the_prompt(server):
    rec = RemoteRecognizer(_config(server))
    try:
        faces = _faces(2)
        crops = [f.aligned for f in faces]
        ll = rec.log_likelihoods(crops, RAF_COMPOUND)
        prompt = prompt_for(RAF_COMPOUND)
        for i, crop in enumerate(crops):
            url = protocol.image_data_url(crop)
            msgs = protocol.chat_messages(RAF_COMPOUND, prompt, url)
            want = [expected_log_likelihood(url, msgs, lab + END) for lab in RAF_COMPOUND.labels]
            np.testing.assert_allclose(ll[i], want, rtol=0, atol=1e-9)
        # negative controls: without the end token, or with the faces swapped, scores differ
        no_end = rec.log_likelihoods(crops, RAF_COMPOUND, with_end=False)
        assert np.abs(no_end - ll).max() > 0.05
        swapped = rec.log_likelihoods(crops[::-1], RAF_COMPOUND)
        assert np.abs(swapped - ll).max() > 0.05
        preds = rec.predict(faces, RAF_COMPOUND)
        assert [p.track_id for p in preds] == [0, 1]
        np.testing.assert_allclose(preds[0].probs, protocol.softmax(ll)[0], atol=1e-9)
        assert preds[0].recognizer == "remote"
    finally:
        rec.close()


def test_every_label_request_prefills_the_answer_and_asks_prompt_logprobs(server):
    rec = RemoteRecognizer(_config(server))
    try:
        server.bodies.clear()
        rec.predict(_faces(1), RAF_BASIC)
        labels = [b for b in server.bodies if b.get("continue_final_message")]
        assert len(labels) == len(RAF_BASIC)
        for b in labels:
            assert b["add_generation_prompt"] is False and b["prompt_logprobs"] == 0
            assert b["messages"][-1]["role"] == "assistant"
            assert b["messages"][-1]["content"].endswith(END)
            image = b["messages"][0]["content"][1]
            assert image["image_url"]["url"].startswith("data:image/png;base64,")
    finally:
        rec.close()


def test_server_without_prompt_logprobs_falls_back_to_first_token(server):
    server.prompt_logprobs = False
    rec = RemoteRecognizer(_config(server))
    try:
        assert rec.mode == "first_token"
        server.chat_requests = 0
        preds = rec.predict(_faces(3), RAF_BASIC)
        assert server.chat_requests == 3, "one request per face in the first-token mode"
        assert all(abs(sum(p.probs) - 1) < 1e-9 for p in preds)
        assert len({p.top_label for p in preds}) >= 1
    finally:
        rec.close()


def test_server_without_logprobs_uses_constrained_choice(server):
    server.prompt_logprobs = False
    server.logprobs = False
    rec = RemoteRecognizer(_config(server))
    try:
        assert rec.mode == "choice"
        server.chat_requests = 0
        preds = rec.predict(_faces(2), RAF_BASIC)
        assert server.chat_requests == 2, "one request per face in the choice mode"
        body = server.bodies[-1]
        assert body["structured_outputs"] == {"choice": list(RAF_BASIC.labels)}
        assert all(max(p.probs) == 1.0 for p in preds)
    finally:
        rec.close()


def test_500s_and_dropped_connections_are_retried(server):
    rec = RemoteRecognizer(_config(server, retries=3))
    try:
        crops = [f.aligned for f in _faces(1)]
        want = rec.log_likelihoods(crops, RAF_BASIC)
        server.fail_next, server.drop_next = 2, 1
        got = rec.log_likelihoods(crops, RAF_BASIC)
        np.testing.assert_array_equal(got, want)
        assert server.fail_next == 0 and server.drop_next == 0
    finally:
        rec.close()


def test_persistent_failures_raise_unreachable_after_bounded_retries(server):
    rec = RemoteRecognizer(_config(server, retries=1))
    try:
        server.fail_next = 10**6
        server.chat_requests = 0
        with pytest.raises(ServerUnreachable, match="after 2 tries"):
            rec.predict(_faces(1), RAF_BASIC)
    finally:
        rec.close()


def test_slow_server_times_out_with_a_clear_message(server):
    server.latency = 1.0
    with pytest.raises(ServerUnreachable, match="no answer within 0.2 s"):
        RemoteRecognizer(_config(server, timeout=0.2, retries=0))


def test_wrong_url_unknown_model_and_401_have_named_errors(server, monkeypatch):
    with pytest.raises(ServerUnreachable, match="did not answer"):
        probe_server(ServerConfig("http://127.0.0.1:9/v1", "tiny", retries=0, timeout=1))
    with pytest.raises(UnknownModel, match="serves: tiny"):
        probe_server(ServerConfig(server.url, "other", retries=0))
    server.api_key = "s3cret"
    with pytest.raises(Unauthorized, match="CER_API_KEY"):
        probe_server(_config(server))
    monkeypatch.setenv("CER_API_KEY", "s3cret")
    assert probe_server(_config(server)).mode == "prompt_logprobs"
    assert server.seen_auth[-1] == "Bearer s3cret"
    with pytest.raises(RemoteError, match="not an http"):
        ServerConfig("ftp://x", "m")


def test_api_key_never_goes_over_plain_http_to_another_host(monkeypatch):
    monkeypatch.setenv("CER_API_KEY", "s3cret")
    from cer_desktop.recognition.remote.client import RemoteClient, api_key

    assert api_key(ServerConfig("http://localhost:8000", "m")) == "s3cret"
    assert api_key(ServerConfig("https://gpu.example.org/v1", "m")) == "s3cret"
    with pytest.raises(InsecureKey, match="https"):
        RemoteClient(ServerConfig("http://gpu.example.org:8000", "m"))
    monkeypatch.delenv("CER_API_KEY")
    assert api_key(ServerConfig("http://gpu.example.org:8000", "m")) is None
    assert "s3cret" not in repr(ServerConfig("https://gpu.example.org/v1", "m"))


def test_url_rules():
    assert normalise_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalise_url("https://h.org/api/v1/") == "https://h.org/api/v1"
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.org")


def test_requests_of_a_frame_are_in_flight_together(server):
    server.latency = 0.3
    rec = RemoteRecognizer(_config(server, in_flight=8))
    try:
        rec.log_likelihoods([_faces(1)[0].aligned], RAF_BASIC)  # prefix length cached
        import time

        t0 = time.perf_counter()
        rec.log_likelihoods([_faces(1)[0].aligned], RAF_BASIC)  # 7 requests
        took = time.perf_counter() - t0
        assert took < 7 * 0.3 * 0.6, f"7 requests of 0.3 s took {took:.2f} s: not concurrent"
    finally:
        rec.close()


def test_fallback_stands_in_while_the_server_is_down_and_reconnects(server):
    import time

    events = []
    rec = RemoteRecognizer(_config(server, retries=0))
    stand_in = FixedRecognizer(top="Happiness", name="instant")
    fb = FallbackRecognizer(rec, stand_in, on_status=events.append, retry_after=0.3)
    try:
        faces = _faces(1)
        assert fb.predict(faces, RAF_BASIC)[0].recognizer == "remote"
        server.fail_next = 10**6
        assert fb.predict(faces, RAF_BASIC)[0].recognizer == "instant"
        assert fb.degraded and [e.kind for e in events] == [StatusKind.REMOTE_UNREACHABLE]
        server.chat_requests = 0
        assert fb.predict(faces, RAF_BASIC)[0].recognizer == "instant"
        assert server.chat_requests == 0, "while down, frames never wait for the server"
        time.sleep(0.5)
        assert server.chat_requests > 0, "the server is probed in the background"
        assert fb.degraded
        server.fail_next = 0
        deadline = time.monotonic() + 5
        while fb.degraded and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not fb.degraded, "the probe brings the server back"
        assert [e.kind for e in events][-1] is StatusKind.REMOTE_RECONNECTED
        assert fb.predict(faces, RAF_BASIC)[0].recognizer == "remote"
    finally:
        fb.close()


def test_close_is_safe_twice_and_predict_after_close_fails(server):
    rec = RemoteRecognizer(_config(server))
    rec.close()
    rec.close()
    with pytest.raises(RemoteError):
        rec.predict(_faces(1), RAF_BASIC)


def test_concurrent_predicts_from_two_threads_do_not_mix_answers(server):
    rec = RemoteRecognizer(_config(server))
    try:
        faces = _faces(2)
        want = [rec.log_likelihoods([f.aligned], RAF_BASIC) for f in faces]
        got: dict[int, np.ndarray] = {}

        def run(i: int) -> None:
            got[i] = rec.log_likelihoods([faces[i].aligned], RAF_BASIC)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(2):
            np.testing.assert_array_equal(got[i], want[i])
    finally:
        rec.close()


def test_concurrent_frames_never_exceed_in_flight_requests(server):
    server.latency = 0.1
    rec = RemoteRecognizer(_config(server, in_flight=3))
    try:
        faces = _faces(2)
        server.max_active = 0
        threads = [threading.Thread(target=rec.predict, args=(faces, RAF_BASIC)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.max_active == 3, f"{server.max_active} requests at once, in_flight is 3"
    finally:
        rec.close()


def test_model_meta_brings_the_served_models_prompt_crop_and_label_set(server, tmp_path):
    from cer_desktop.recognition.lvlm.metadata import AdapterMetadata
    from cer_desktop.recognition.lvlm.prompts import PromptTemplate

    lab = PromptTemplate("lab_v2", "Lab prompt v2, pick one of: {labels}. Answer with it.")
    AdapterMetadata.create(RAF_BASIC, lab, crop_size=112).write(tmp_path / "merged")
    rec = RemoteRecognizer(_config(server, model_meta=str(tmp_path / "merged")))
    try:
        assert rec.label_set is RAF_BASIC and rec.crop_size == 112
        assert rec.manifest()["model_meta"] == {
            "label_set": "raf_basic", "prompt_id": "lab_v2", "crop_size": 112
        }  # fmt: skip
        rec.predict(_faces(1), RAF_BASIC)
        assert "Lab prompt v2, pick one of: Surprise, Fear" in server.last_prompt
    finally:
        rec.close()
    plain = RemoteRecognizer(_config(server))
    try:
        assert plain.label_set is None and "model_meta" not in plain.manifest()
        plain.predict(_faces(1), RAF_BASIC)
        assert "Lab prompt v2" not in server.last_prompt
    finally:
        plain.close()


def test_a_model_meta_path_without_cer_adapter_json_is_a_named_error(server, tmp_path):
    with pytest.raises(RemoteError, match="no cer_adapter.json there"):
        RemoteRecognizer(_config(server, model_meta=str(tmp_path)))
    from cer_desktop.recognition.lvlm.metadata import MetadataError

    (tmp_path / "cer_adapter.json").write_text("{not json")
    with pytest.raises(MetadataError, match="cannot read"):
        RemoteRecognizer(_config(server, model_meta=str(tmp_path / "cer_adapter.json")))
