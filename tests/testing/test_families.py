"""The family registry: every entry complete, its token ids real, its shapes buildable in name."""

from __future__ import annotations

import inspect

import pytest

from cer_desktop.testing.families import FAMILIES, family_of_shape
from cer_desktop.testing.families.qwen3_5 import QWEN3_5_IDS
from cer_desktop.testing.families.qwen3_vl import QWEN3_ADDED


def test_every_family_is_keyed_by_its_model_type_and_filled_in():
    for key, family in FAMILIES.items():
        assert key == family.model_type
        assert family.name and family.tokenizer_note and family.notes, key
        # the transformers config class of that model_type exists in the installed release
        from transformers import AutoConfig

        assert AutoConfig.for_model(key).model_type == key


def test_shape_names_are_unique_and_each_builder_takes_its_shape():
    seen: dict[str, str] = {}
    for family in FAMILIES.values():
        params = inspect.signature(family.build_tiny).parameters
        for shape, dims in family.shapes.items():
            assert shape not in seen, f"{shape} in {seen.get(shape)} and {family.model_type}"
            seen[shape] = family.model_type
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            unknown = set() if takes_any else set(dims) - set(params)
            assert not unknown, f"{shape}: build_tiny takes no {unknown}"
            assert family_of_shape(shape) is family
    with pytest.raises(KeyError):
        family_of_shape("no-such-shape")


def test_qwen3_vision_token_ids_are_transformers_defaults():
    # the ids recorded from the tokenizer configs agree with the config classes' defaults
    from transformers import Qwen3_5Config, Qwen3VLConfig

    for config, ids in ((Qwen3VLConfig(), QWEN3_ADDED), (Qwen3_5Config(), QWEN3_5_IDS)):
        assert config.image_token_id == ids["<|image_pad|>"]
        assert config.video_token_id == ids["<|video_pad|>"]
        assert config.vision_start_token_id == ids["<|vision_start|>"]
        assert config.vision_end_token_id == ids["<|vision_end|>"]
    assert Qwen3VLConfig().text_config.vocab_size > max(QWEN3_ADDED.values())
    assert Qwen3_5Config().text_config.vocab_size > max(QWEN3_5_IDS.values())


def test_qwen3vl_real_tokenizer_has_the_added_tokens_at_their_ids(qwen3vl_tokenizer):
    tok = qwen3vl_tokenizer
    for token, i in QWEN3_ADDED.items():
        assert tok.convert_tokens_to_ids(token) == i, token
    assert len(tok) == max(QWEN3_ADDED.values()) + 1  # 151,669 tokens, embedding 151,936 rows
    # Qwen2's BPE: the compound labels are several tokens, as with Qwen2-VL
    assert len(tok("Happily Surprised", add_special_tokens=False)["input_ids"]) == 6
    # the template adds no default system message (Qwen2-VL's adds one)
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image"}]}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>user\nHi<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
