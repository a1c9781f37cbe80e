"""The remote recognizer against a real vLLM server (CPU build, `scripts/vllm-venv.sh`).

The served model is taught to answer face i with compound label i, so the exact scores spread
over more than a nat and differ between faces: equality with the in-process scorer can fail,
and the negative controls (no end-of-answer token, faces swapped) must differ.
Skipped where the server venv is absent, never when CI=true.
"""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.labels import RAF_COMPOUND, get_label_set
from cer_desktop.recognition.remote.client import ServerConfig
from cer_desktop.recognition.remote.recognizer import RemoteRecognizer
from cer_desktop.testing import vllm_server

N_FACES = 4
TOLERANCE = 1e-3  # nats, fp32 server vs fp32 in-process


@pytest.fixture(scope="module")
def served(tmp_path_factory, vllm_python):
    python = vllm_python
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

    root = tmp_path_factory.mktemp("vllm")
    folder, faces, model, processor = vllm_server.load_taught(root, N_FACES)
    reference = ClosedSetScorer(model, processor, None, ImageLimits()).log_likelihoods(
        faces, RAF_COMPOUND
    )
    del model
    with vllm_server.VLLMServer(python, folder, "tiny-cer") as server:
        yield server, faces, reference


@pytest.fixture(scope="module")
def remote(served):
    server, _, _ = served
    rec = RemoteRecognizer(ServerConfig(server.url, "tiny-cer", timeout=120))
    yield rec
    rec.close()


def test_the_reference_is_a_test_that_can_fail(served):
    _, _, reference = served
    spread = reference.max(axis=1) - reference.min(axis=1)
    assert (spread > 1.0).all(), f"reference log-likelihoods spread only {spread} nats"
    assert list(reference.argmax(axis=1)) == list(range(N_FACES)), "face i prefers label i"


def test_probe_finds_vllm_with_prompt_logprobs_and_its_end_token(remote):
    info = remote.info
    assert info.engine.startswith("vllm "), info.engine
    assert info.mode == "prompt_logprobs" and info.prompt_logprobs
    assert info.end_of_answer == "<|im_end|>" and info.end_of_answer_source == "server"


def test_remote_log_likelihoods_equal_the_in_process_scorer(served, remote):
    _, faces, reference = served
    got = remote.log_likelihoods(faces, RAF_COMPOUND)
    diff = np.abs(got - reference).max()
    assert diff <= TOLERANCE, f"max |remote - local| = {diff:.2e} nats\n{got}\n{reference}"


def test_negative_controls_differ(served, remote):
    _, faces, reference = served
    # Without the end-of-answer token the scores change: a little where the taught model ends
    # a label with near certainty (≈ 0.01 nats, still 10x the tolerance) ...
    no_end = remote.log_likelihoods(faces, RAF_COMPOUND, with_end=False)
    assert np.abs(no_end - reference).max() > 5 * TOLERANCE, "the end token counts"
    assert (no_end > reference).all(), "every label loses the end token's (negative) term"
    # ... and by nats for a label that is the prefix of another: after "Sadly" the model taught
    # "Sadly Fearful" / "Sadly Angry" goes on, so ending there is improbable
    nested = get_label_set("custom:Sadly,Sadly Fearful,Sadly Angry")
    with_end = remote.log_likelihoods(faces, nested)
    prefix_only = remote.log_likelihoods(faces, nested, with_end=False)
    gain = prefix_only[:, 0] - with_end[:, 0]
    assert gain.max() > 1.0, f"the end token after a prefix label costs only {gain} nats"
    swapped = remote.log_likelihoods(faces[::-1], RAF_COMPOUND)
    assert np.abs(swapped - reference).max() > 1.0, "the faces count"


def test_first_token_and_choice_modes_send_one_request_per_face(served):
    server, faces, reference = served
    from cer_desktop.testing.fakes import make_face

    fs = [make_face(1, track_id=i) for i in range(N_FACES)]
    fs = [
        type(f)(f.track_id, 1, f.box, f.landmarks, img, f.quality)
        for f, img in zip(fs, faces, strict=True)
    ]
    for mode in ("first_token", "choice"):
        rec = RemoteRecognizer(ServerConfig(server.url, "tiny-cer", timeout=120), mode=mode)
        try:
            before = rec.requests
            preds = rec.predict(fs, RAF_COMPOUND)
            assert rec.requests - before == N_FACES, f"{mode}: one request per face"
            if mode == "choice":  # greedy constrained answers: the taught label of each face
                tops = [p.top_label for p in preds]
                assert tops == [RAF_COMPOUND.labels[i] for i in range(N_FACES)], tops
        finally:
            rec.close()
