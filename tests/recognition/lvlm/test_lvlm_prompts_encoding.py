"""Prompts (package data, per label set) and the shared encoding of prompts and answers."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.labels import (
    C_EXPR,
    RAF_BASIC,
    RAF_COMPOUND,
    LabelSet,
    LabelSetError,
    get_label_set,
)
from cer_desktop.recognition.lvlm.encoding import (
    IGNORE_INDEX,
    EncodingError,
    ImageLimits,
    answer_token_ids,
    encode_prompts,
    encode_training_batch,
    end_of_answer_ids,
    label_token_ids,
)
from cer_desktop.recognition.lvlm.prompts import (
    PromptError,
    PromptTemplate,
    available_prompts,
    build_messages,
    get_prompt,
    prompt_for,
)


def test_each_builtin_label_set_has_its_own_packaged_prompt():
    # given the shipped templates
    ids = available_prompts()
    # then every data set's label set has one, plus the default for custom lists
    assert {"default", "raf_basic", "raf_compound", "c_expr"} <= set(ids)
    assert prompt_for(RAF_COMPOUND).id == "raf_compound"
    assert prompt_for(C_EXPR.with_neutral()).id == "c_expr", "the +neutral set shares its prompt"
    assert prompt_for(get_label_set("custom:Calm,Excited")).id == "default"


def test_rendered_prompt_lists_every_label_as_spelled():
    text = prompt_for(RAF_BASIC).render(RAF_BASIC)
    assert ", ".join(RAF_BASIC.labels) in text
    assert "{labels}" not in text


def test_unknown_prompt_and_template_without_placeholder_are_named_errors():
    with pytest.raises(PromptError, match="no prompt template 'nope'"):
        get_prompt("nope")
    with pytest.raises(PromptError, match="placeholder"):
        PromptTemplate("x", "Name the expression.")


def test_build_messages_adds_the_answer_only_for_training_and_checks_it():
    prompt = get_prompt("default")
    user_only = build_messages(RAF_BASIC, prompt)
    assert [m["role"] for m in user_only] == ["user"]
    assert user_only[0]["content"][1] == {"type": "image"}, "prompt first: its cache is shared"
    with_answer = build_messages(RAF_BASIC, prompt, answer="Fear")
    assert with_answer[-1]["content"][0]["text"] == "Fear"
    with pytest.raises(PromptError, match="not a label"):
        build_messages(RAF_BASIC, prompt, answer="Joy")


@pytest.mark.parametrize("labels", ["custom:A,,B", "custom:Calm,calm", "custom: "])
def test_label_sets_with_empty_or_duplicate_labels_are_refused(labels):
    with pytest.raises(LabelSetError):
        get_label_set(labels)


def test_end_of_answer_token_comes_from_the_chat_template(qwen_loaded, llava_loaded):
    _, qwen = qwen_loaded
    _, llava = llava_loaded
    # Qwen2-VL closes every turn with <|im_end|>; the LLaVA template ends answers with </s>
    assert end_of_answer_ids(qwen) == [qwen.tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert end_of_answer_ids(llava) == [llava.tokenizer.eos_token_id]


@pytest.mark.parametrize("which", ["qwen_loaded", "llava_loaded"])
def test_answer_tokens_decode_to_the_label_and_end_with_end_of_answer(which, request):
    _, processor = request.getfixturevalue(which)
    prompt = prompt_for(RAF_COMPOUND)
    eoa = end_of_answer_ids(processor)
    for label, ids in zip(
        RAF_COMPOUND.labels, label_token_ids(processor, RAF_COMPOUND, prompt), strict=True
    ):
        assert ids[-len(eoa) :] == eoa
        assert processor.tokenizer.decode(ids[: -len(eoa)]).strip() == label


def test_face_of_224_pixels_costs_64_visual_tokens_in_qwen2vl(qwen_loaded, faces):
    _, processor = qwen_loaded
    batch = encode_prompts(
        processor, faces[:2], RAF_COMPOUND, prompt_for(RAF_COMPOUND), ImageLimits()
    )
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert (batch["input_ids"] == pad).sum(dim=1).tolist() == [64, 64]
    # and a larger crop is brought to the same cost by the pixel limits
    big = encode_prompts(
        processor,
        [np.zeros((448, 448, 3), np.uint8)],
        RAF_COMPOUND,
        prompt_for(RAF_COMPOUND),
        ImageLimits(),
    )
    assert int((big["input_ids"] == pad).sum()) == 64


@pytest.mark.parametrize("which", ["qwen_loaded", "llava_loaded"])
def test_training_batch_puts_loss_only_on_the_answer_and_its_end(which, request, faces):
    _, processor = request.getfixturevalue(which)
    prompt = prompt_for(RAF_COMPOUND)
    answers = ["Sadly Angry", "Happily Surprised"]
    odd = np.zeros((100, 160, 3), np.uint8)  # another size: rows of different lengths
    batch = encode_training_batch(
        processor, [faces[0], odd], answers, RAF_COMPOUND, prompt, ImageLimits()
    )
    for row, answer in enumerate(answers):
        labels = batch["labels"][row]
        supervised = labels[labels != IGNORE_INDEX].tolist()
        assert supervised == answer_token_ids(processor, RAF_COMPOUND, prompt, answer)
        # the supervised tokens are the input tokens at the same positions
        ids = batch["input_ids"][row][labels != IGNORE_INDEX].tolist()
        assert ids == supervised
        assert batch["attention_mask"][row][labels != IGNORE_INDEX].all()
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape


def test_bad_images_and_answers_are_named_errors(qwen_loaded):
    _, processor = qwen_loaded
    prompt = prompt_for(RAF_BASIC)
    with pytest.raises(EncodingError, match="RGB uint8"):
        encode_prompts(processor, [np.zeros((10, 10), np.uint8)], RAF_BASIC, prompt)
    with pytest.raises(EncodingError, match="no images"):
        encode_prompts(processor, [], RAF_BASIC, prompt)
    with pytest.raises(EncodingError, match="1 images but 2 answers"):
        encode_training_batch(
            processor, [np.zeros((8, 8, 3), np.uint8)], ["Fear", "Anger"], RAF_BASIC, prompt
        )
    with pytest.raises(EncodingError):
        ImageLimits(100, 10)


def test_labelset_ok():
    # a custom label set with Neutral added works like the built-ins
    ls = LabelSet("mine", ("Calm", "Excited")).with_neutral()
    assert ls.has_neutral and prompt_for(ls).id == "default"


def test_template_that_adds_nothing_after_the_answer_ends_it_with_eos(llava_dir):
    # given a LLaVA-1.5-style template that renders the answer with no end marker
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(llava_dir)
    processor.chat_template = (
        "{% for m in messages %}{{ m['role'].upper() }}: "
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    eos = processor.tokenizer.eos_token_id
    # then the end of an answer is the end-of-sequence token, appended to every label
    assert end_of_answer_ids(processor) == [eos]
    ids = answer_token_ids(processor, RAF_BASIC, prompt_for(RAF_BASIC), "Happiness")
    assert ids[-1] == eos and processor.tokenizer.decode(ids[:-1]).strip() == "Happiness"
