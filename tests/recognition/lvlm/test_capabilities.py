"""Capability detection reads the model's code once; both transformers spellings of the cache."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cer_desktop.recognition.lvlm.capabilities import cache_of, detect
from cer_desktop.recognition.lvlm.trie import ScoringError


class _Config(SimpleNamespace):
    def get_text_config(self):
        return self


def _model(body: object, attn: str = "sdpa") -> SimpleNamespace:
    return SimpleNamespace(model=body, config=_Config(model_type="fake", _attn_implementation=attn))


class _OldBody:  # transformers < 5.24: `past_key_values`
    def forward(self, input_ids=None, position_ids=None, past_key_values=None, use_cache=None):
        raise AssertionError("detection must not run the model")

    def compute_3d_position_ids(
        self,
        input_ids,
        image_grid_thw,
        video_grid_thw,
        inputs_embeds,
        attention_mask,
        past_key_values,
        second_per_grid_ts=None,
        mm_token_type_ids=None,
    ):
        return ("old", input_ids, past_key_values, mm_token_type_ids)


class _NewBody:  # transformers 5.24+: `cache`, no default
    def forward(self, input_ids=None, position_ids=None, cache=None, use_cache=None):
        raise AssertionError("detection must not run the model")

    def compute_3d_position_ids(
        self,
        input_ids,
        image_grid_thw,
        video_grid_thw,
        inputs_embeds,
        attention_mask,
        cache,
        second_per_grid_ts=None,
        mm_token_type_ids=None,
    ):
        return ("new", input_ids, cache, mm_token_type_ids)


PROCESSOR = SimpleNamespace(image_token_id=7)
INPUTS = {"input_ids": "ids", "image_grid_thw": "thw", "mm_token_type_ids": "types"}


@pytest.mark.parametrize(
    ("body", "keyword"), [(_OldBody(), "past_key_values"), (_NewBody(), "cache")]
)
def test_both_cache_spellings_give_the_fast_path(body, keyword):
    caps = detect(_model(body), PROCESSOR)
    assert caps.cache_keyword == keyword and caps.rope == "mrope"
    assert caps.path() == "single-pass + prompt cache", caps.reasons
    assert caps.cache_kwargs("C") == {keyword: "C"}
    # the rope call gets every input it names, the cache as None (a fresh prompt)
    tag, ids, cache, types = caps.rope_positions(body.compute_3d_position_ids, INPUTS)
    assert (ids, cache, types) == ("ids", None, "types")


def test_a_rope_that_asks_for_something_unknown_gets_the_two_pass_path():
    class Body(_NewBody):
        def compute_3d_position_ids(self, input_ids, cache, video_fps):  # type: ignore[override]
            return None

    caps = detect(_model(Body()), PROCESSOR)
    assert not caps.single_pass and not caps.prompt_cache
    assert caps.path() == "two-pass" and "video_fps" in caps.reasons[0]


def test_flash_attention_takes_no_tree_mask_and_a_missing_image_token_no_prompt_cache():
    caps = detect(
        _model(_NewBody(), attn="flash_attention_2"), SimpleNamespace(image_token_id=None)
    )
    assert caps.path() == "two-pass"
    assert caps.path(single_pass=False) == "two-pass"


def test_a_model_without_a_cache_keyword_cannot_be_scored():
    class Body:
        def forward(self, input_ids=None):
            return None

    with pytest.raises(ScoringError, match="KV cache"):
        detect(_model(Body()), PROCESSOR)


def test_cache_of_reads_either_output_name():
    assert cache_of({"last_hidden_state": 1, "cache": "C"}) == "C"
    assert cache_of({"past_key_values": "P"}) == "P"
    with pytest.raises(KeyError):
        cache_of({"last_hidden_state": 1})
