"""Qwen2-VL's real tokenizer from llama.cpp's Qwen2 vocabulary: ids, label splits, chat format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts, label_token_ids
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.testing.qwen2_vocab import (
    QWEN2VL_ADDED,
    VocabUnavailable,
    _qwen2vl_tokenizer_json,
    find_qwen2_vocab,
    qwen2vl_processor,
)


def test_placeholders_become_qwen2vl_added_tokens_at_their_ids():
    # given a GGUF-converted tokenizer JSON: Qwen2's 3 specials, then "[PADn]" placeholders
    vocab = {"a": 0, "b": 1, "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    vocab.update({f"[PAD{i}]": i for i in range(151646, 151700)})
    raw = json.dumps({"added_tokens": [], "normalizer": None, "model": {"vocab": vocab}})
    # when it is rewritten
    out = json.loads(_qwen2vl_tokenizer_json(raw))
    # then every Qwen2-VL added token sits at its id, special, and no placeholder is left
    got = out["model"]["vocab"]
    for token, i in QWEN2VL_ADDED.items():
        assert got[token] == i, token
    assert not [t for t in got if t.startswith("[PAD")], "unused placeholders must go"
    assert {a["content"]: a["id"] for a in out["added_tokens"]} == QWEN2VL_ADDED
    assert all(a["special"] for a in out["added_tokens"])
    assert got["a"] == 0 and got["b"] == 1
    assert out["normalizer"] == {"type": "NFC"}


def test_a_missing_or_wrong_vocabulary_file_says_how_to_get_it(tmp_path):
    with pytest.raises(VocabUnavailable, match="fetch-qwen2-vocab.sh"):
        find_qwen2_vocab(tmp_path / "ggml-vocab-qwen2.gguf")
    wrong = tmp_path / "other.gguf"
    wrong.write_bytes(b"GGUF not this one")
    with pytest.raises(VocabUnavailable, match="not the expected"):
        find_qwen2_vocab(wrong)


def test_real_tokenizer_has_qwen2vl_ids_and_splits_labels_as_qwen2(qwen2_tokenizer):
    tok = qwen2_tokenizer
    assert len(tok) == 151657, "Qwen2-VL's tokenizer has 151,657 tokens (model rows: 151,936)"
    for token, i in QWEN2VL_ADDED.items():
        assert tok.convert_tokens_to_ids(token) == i, token
        assert tok(token, add_special_tokens=False)["input_ids"] == [i], token
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.tokenize("Sadly Angry") == ["Sadly", "ĠAngry"]
    assert tok.tokenize("Happily Surprised") == ["H", "app", "ily", "ĠSur", "pr", "ised"]
    assert len(tok.tokenize("Disgustedly Surprised")) == 7


def test_real_processor_encodes_a_face_and_the_labels_as_qwen2vl_does(qwen2_tokenizer):
    # given Qwen2-VL's processor on the real tokenizer, one 224x224 face
    processor = qwen2vl_processor(tokenizer=qwen2_tokenizer)
    face = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    prompt = prompt_for(RAF_COMPOUND)
    # when the prompt and the answers are encoded
    batch = encode_prompts(processor, [face], RAF_COMPOUND, prompt, ImageLimits())
    seqs = label_token_ids(processor, RAF_COMPOUND, prompt)
    # then the face is 64 <|image_pad|> tokens between the vision markers, and the prompt
    # ends with the assistant's turn
    ids = batch["input_ids"][0].tolist()
    assert ids.count(QWEN2VL_ADDED["<|image_pad|>"]) == 64
    start = ids.index(QWEN2VL_ADDED["<|vision_start|>"])
    assert ids[start + 65] == QWEN2VL_ADDED["<|vision_end|>"]
    text = qwen2_tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    # every answer ends with <|im_end|>; "Happily Surprised" is 6 tokens + that one
    end = QWEN2VL_ADDED["<|im_end|>"]
    assert all(s[-1] == end for s in seqs)
    assert len(seqs[RAF_COMPOUND.index("Happily Surprised")]) == 7
    assert max(len(s) for s in seqs) == 8, "Disgustedly Surprised: 7 tokens + <|im_end|>"
