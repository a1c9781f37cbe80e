"""What SmolVLM2 and Gemma 3 bring that the older families do not: tiles and a pixel shuffle,
one BOS from the template, image tokens that see each other, local attention windows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.recognition.lvlm.capabilities import detect
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts
from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.tree_mask import image_blocks, tree_mask
from cer_desktop.recognition.lvlm.trie import LabelTrie


def _load(folder):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))


def _exact(model, processor, faces, label_set, limits) -> ClosedSetScorer:
    scorer = ClosedSetScorer(model, processor, None, limits)
    got = scorer.log_likelihoods(faces, label_set)
    reference = reference_log_likelihoods(model, processor, faces, label_set, None, limits)
    assert np.ptp(reference) > 1.0, "the reference must discriminate labels"
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    return scorer


@pytest.mark.parametrize(("tile", "tokens"), [(64, 4), (32, 1)])
def test_a_smolvlm_face_that_fits_one_tile_is_one_tile(tile, tokens, tmp_path):
    from cer_desktop.testing.families.smolvlm import build_tiny_smolvlm

    # given a SmolVLM2 whose tower was built for 64-px tiles, cutting tiles of `tile` px
    # (32: smaller than the tower's grid, placed on it by fraction; 16-px patches shuffled by 2)
    model, processor = _load(build_tiny_smolvlm(tmp_path / "smol", tile=tile))
    face = [np.random.default_rng(3).integers(0, 256, (tile, tile, 3), dtype=np.uint8)]
    limits = ImageLimits.for_crop(tile)
    # when a face of one tile is encoded as the scorer encodes it
    batch = encode_prompts(processor, face, RAF_BASIC, prompt_for(RAF_BASIC), limits)
    # then it is one tile (no 4 x 4 split + global tile), its tokens as the pixel shuffle gives
    assert batch["pixel_values"].shape[1] == 1, tuple(batch["pixel_values"].shape)
    assert int((batch["input_ids"][0] == processor.image_token_id).sum()) == tokens
    # and it scores exactly, on the fast path
    assert _exact(model, processor, face, RAF_BASIC, limits).path == "single-pass + prompt cache"


def test_a_smolvlm_tile_the_pixel_shuffle_cannot_fold_fails_loudly(tmp_path):
    from cer_desktop.testing.families.smolvlm import build_tiny_smolvlm

    # given 48-px tiles: 3 x 3 patches of 16 px, which a shuffle by 2 cannot fold (as 224 px
    # is for the real 16-px patches shuffled by 4)
    model, processor = _load(build_tiny_smolvlm(tmp_path / "smol48", tile=48))
    face = [np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)]
    scorer = ClosedSetScorer(model, processor, None, ImageLimits.for_crop(48))
    with pytest.raises(RuntimeError, match="invalid for input"):
        scorer.log_likelihoods(face, RAF_BASIC)


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory):
    from cer_desktop.testing.families.gemma3 import build_tiny_gemma3

    return _load(build_tiny_gemma3(tmp_path_factory.mktemp("gemma3") / "g"))


def test_gemma3_prompts_start_with_one_bos(gemma3, faces):
    # given Gemma 3's template, which writes <bos>, and its tokenizer, which adds one too
    _, processor = gemma3
    tok = processor.tokenizer
    assert tok("x")["input_ids"][0] == tok.bos_token_id, "the tokenizer adds <bos> as the real one"
    # when a face's prompt is encoded
    ids = encode_prompts(processor, faces[:1], RAF_COMPOUND, prompt_for(RAF_COMPOUND))["input_ids"]
    # then exactly one <bos> opens it
    assert ids[0, 0] == tok.bos_token_id and ids[0, 1] != tok.bos_token_id
    assert int((ids[0] == tok.bos_token_id).sum()) == 1


def test_gemma3_image_tokens_attend_both_ways_in_the_single_pass(gemma3, faces):
    # given Gemma 3: its forward takes token_type_ids, its image tokens form one block
    model, processor = gemma3
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    caps = scorer.capabilities
    assert caps.bidirectional_images and caps.sliding_window == 512, caps
    # when scored in one pass, then as the reference (the model's own mask)
    _exact(model, processor, faces[:2], RAF_COMPOUND, ImageLimits())


def test_gemma3_past_its_sliding_window_takes_two_passes_exactly(tmp_path, faces):
    from cer_desktop.testing.families.gemma3 import build_tiny_gemma3

    # given a Gemma 3 whose local layers see 32 tokens, shorter than a face's prompt
    model, processor = _load(build_tiny_gemma3(tmp_path / "g32", sliding_window=32))
    # when scored, the one tree mask cannot serve the local layers: two passes, still exact
    scorer = _exact(model, processor, faces[:2], RAF_COMPOUND, ImageLimits())
    assert scorer.path == "two-pass + prompt cache", scorer.path
    assert any("32 tokens" in r for r in scorer.capabilities.reasons)


def test_the_tree_mask_opens_image_blocks_both_ways_and_keeps_text_causal():
    import torch

    # given a 6-token prompt whose tokens 2..4 are one image, 2 tokens cached, one label prefix
    assert image_blocks(torch.tensor([0, 0, 1, 1, 1, 0])) == [(2, 5)]
    trie = LabelTrie.build([(7, 9), (8, 9)])
    mask = tree_mask(6, 2, trie, torch.float32, "cpu", [(2, 5)]) == 0
    # then image token 2 (row 0) sees image tokens 3 and 4 ahead of it, text token 5 does not
    # see beyond itself, and the prefix token sees the whole prompt
    assert mask[0, 2:5].all() and mask[0, :2].all()
    assert not mask[3, 6:].any() and mask[3, :6].all()
    assert mask[4, :6].all() and mask[4, 6] and not mask[5, 6]
    plain = tree_mask(6, 2, trie, torch.float32, "cpu") == 0
    assert not plain[0, 3], "without blocks the prompt is causal"


def _fake(layer_types, forward_params=("input_ids", "position_ids", "cache")):
    class Body:
        pass

    def forward(**kwargs):  # pragma: no cover - never called
        raise AssertionError

    import inspect

    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=None) for p in forward_params]
    )
    body = Body()
    body.forward = forward  # type: ignore[attr-defined]
    text = SimpleNamespace(
        sliding_window=4096, layer_types=layer_types, _attn_implementation="sdpa"
    )
    config = SimpleNamespace(model_type="fake", get_text_config=lambda: text)
    return SimpleNamespace(model=body, config=config)


def test_capabilities_read_windows_from_layer_types_and_types_from_the_forward():
    processor = SimpleNamespace(image_token_id=5)
    # Qwen2's configs carry a sliding_window that no layer uses
    qwen = detect(_fake(["full_attention"] * 2), processor)
    assert qwen.sliding_window is None and not qwen.bidirectional_images
    gemma = detect(
        _fake(
            ["sliding_attention", "full_attention"],
            ("input_ids", "position_ids", "cache", "token_type_ids"),
        ),
        processor,
    )
    assert gemma.sliding_window == 4096 and gemma.bidirectional_images
    assert gemma.single_pass, "a window is checked per call, not refused up front"


def test_gemma3_real_token_ids_are_transformers_defaults():
    from transformers import Gemma3Config

    from cer_desktop.testing.families.gemma3 import GEMMA3_REAL_IDS, GEMMA3_SPECIAL

    config = Gemma3Config()
    text = config.text_config
    assert config.boi_token_index == GEMMA3_REAL_IDS["<start_of_image>"]
    assert config.eoi_token_index == GEMMA3_REAL_IDS["<end_of_image>"]
    assert config.image_token_index == GEMMA3_REAL_IDS["<image_soft_token>"]
    assert (text.pad_token_id, text.eos_token_id, text.bos_token_id) == (0, 1, 2)
    assert set(GEMMA3_REAL_IDS) == set(GEMMA3_SPECIAL)
    assert text.vocab_size > max(GEMMA3_REAL_IDS.values())
