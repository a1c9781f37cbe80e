"""The tiny model builders: real special tokens, chat templates, loadable like downloaded models."""

from __future__ import annotations

import pytest

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.testing.tiny_models import QWEN2VL_SPECIAL, build_tiny_llava, build_tiny_qwen2vl


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "qwen": build_tiny_qwen2vl(root / "q", num_hidden_layers=1),
        "llava": build_tiny_llava(root / "l", num_hidden_layers=1),
    }


def test_qwen2vl_loads_through_auto_classes_with_its_special_tokens(folders):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folders["qwen"], local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(folders["qwen"], local_files_only=True)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert model.config.text_config.num_hidden_layers == 1
    tok = processor.tokenizer
    for special in QWEN2VL_SPECIAL:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert (
        text.endswith("<|im_start|>assistant\n")
        and "<|vision_start|><|image_pad|><|vision_end|>" in text
    )


def test_llava_loads_through_auto_classes_with_its_image_token(folders):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folders["llava"], local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(folders["llava"], local_files_only=True)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert model.config.image_token_index == processor.tokenizer.convert_tokens_to_ids("<image>")


def test_labels_tokenise_into_few_tokens(folders):
    from transformers import AutoProcessor

    tok = AutoProcessor.from_pretrained(folders["qwen"]).tokenizer
    for label in RAF_COMPOUND.labels:
        # the tokenizer was trained on the labels: each word is about one token
        assert len(tok(label, add_special_tokens=False)["input_ids"]) <= 3, label


def test_sizes_are_keyword_arguments(tmp_path):
    import json

    folder = build_tiny_qwen2vl(
        tmp_path / "wide", hidden_size=128, vocab_size=2048, num_hidden_layers=1
    )
    config = json.loads((folder / "config.json").read_text())
    text = config.get("text_config", config)
    assert text["hidden_size"] == 128 and text["vocab_size"] == 2048
