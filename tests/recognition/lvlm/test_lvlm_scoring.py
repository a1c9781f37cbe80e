"""Closed-set scoring: the batched, cache-sharing scorer equals the plain one-by-one reference."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.labels import BUILTIN, RAF_COMPOUND, get_label_set
from cer_desktop.recognition.lvlm.encoding import ImageLimits, label_token_ids
from cer_desktop.recognition.lvlm.generation import (
    generate_answers,
    parse_answer,
    reference_log_likelihoods,
)
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer, LabelTrie, ScoringError

# Labels that are prefixes of each other and share first tokens: multi-token labels must be exact.
NESTED = get_label_set("custom:Happily,Happily Surprised,Happily Surprised Sadly,Sadly,Calm")


def _softmax(ll: np.ndarray) -> np.ndarray:
    e = np.exp(ll - ll.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("which", ["qwen_loaded", "llava_loaded"])
@pytest.mark.parametrize("label_set", [RAF_COMPOUND, NESTED], ids=lambda s: s.name)
def test_batched_scores_equal_the_one_by_one_reference(which, label_set, request, faces):
    # given a tiny model and two faces
    model, processor = request.getfixturevalue(which)
    faces = faces[:2]
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    # when all faces x labels are scored in the two batched passes, and one by one
    batched = scorer.log_likelihoods(faces, label_set)
    reference = reference_log_likelihoods(model, processor, faces, label_set, None, ImageLimits())
    # then the log-likelihoods and probabilities agree
    assert np.ptp(reference) > 1.0, "the reference must discriminate labels, or the test is vacuous"
    np.testing.assert_allclose(batched, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(
        scorer.score(faces, label_set), _softmax(reference), atol=1e-4, rtol=0
    )


def test_qwen2_5_vl_scores_equal_the_reference(qwen25_loaded, faces):
    # another model family through the same code: windowed vision attention, mrope
    model, processor = qwen25_loaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    batched = scorer.log_likelihoods(faces[:2], RAF_COMPOUND)
    reference = reference_log_likelihoods(
        model, processor, faces[:2], RAF_COMPOUND, None, ImageLimits()
    )
    assert scorer.path == "single-pass + prompt cache" and len(scorer._static) == 1, (
        f"the fast path should serve it, ran {scorer.path}"
    )
    np.testing.assert_allclose(batched, reference, atol=1e-4)


@pytest.mark.parametrize("label_set", list(BUILTIN.values()), ids=lambda s: s.name)
def test_scores_equal_the_reference_on_qwen2s_real_vocabulary(
    label_set, qwen_real_vocab_loaded, faces
):
    # given Qwen2's real vocabulary, where labels are 1-7 tokens (+ <|im_end|>) with deep shared prefixes
    # ("Happily Surprised" and "Happily Disgusted" share H, app, ily)
    model, processor = qwen_real_vocab_loaded
    seqs = label_token_ids(processor, label_set, prompt_for(label_set))
    one = ClosedSetScorer(model, processor, None, ImageLimits())
    two = ClosedSetScorer(model, processor, None, ImageLimits())
    two.single_pass = False
    # when two faces are scored in one pass, in two passes, and one label at a time
    single = one.log_likelihoods(faces[:2], label_set)
    double = two.log_likelihoods(faces[:2], label_set)
    reference = reference_log_likelihoods(model, processor, faces[:2], label_set)
    # then all three agree
    assert one.path == "single-pass + prompt cache", one.path
    assert two.path == "two-pass + prompt cache", two.path
    assert np.ptp(reference) > 1.0, "the reference must discriminate labels, or the test is vacuous"
    np.testing.assert_allclose(single, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(double, reference, atol=1e-4, rtol=0)
    if label_set.name.startswith(("raf_compound", "c_expr")):
        assert max(len(s) for s in seqs) >= 6, "compound labels are long in Qwen2's vocabulary"


def test_label_set_with_neutral_matches_the_reference(qwen_loaded, faces):
    model, processor = qwen_loaded
    label_set = RAF_COMPOUND.with_neutral()  # the compounds plus an honest Neutral
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    reference = reference_log_likelihoods(
        model, processor, faces[:1], label_set, None, ImageLimits()
    )
    np.testing.assert_allclose(scorer.log_likelihoods(faces[:1], label_set), reference, atol=1e-4)


@pytest.mark.parametrize("which", ["qwen_loaded", "llava_loaded", "qwen25_loaded"])
def test_single_pass_and_two_pass_scoring_agree(which, request, faces, monkeypatch):
    # given one scorer that must use the one-pass tree mask and one that must use two passes
    model, processor = request.getfixturevalue(which)
    one = ClosedSetScorer(model, processor, None, ImageLimits())
    two = ClosedSetScorer(model, processor, None, ImageLimits())
    two.single_pass = False

    def no_prefix_pass(*args, **kwargs):
        raise AssertionError("the single-pass scorer fell back to two passes")

    monkeypatch.setattr(one, "_prefix_pass", no_prefix_pass)
    # when both score nested labels for two faces
    a = one.log_likelihoods(faces[:2], NESTED)
    b = two.log_likelihoods(faces[:2], NESTED)
    # then they agree, and each ran the path it names
    cached = "" if which == "llava_loaded" else " + prompt cache"  # LLaVA: image first
    assert one.path == "single-pass" + cached, one.path
    assert two.path == "two-pass" + cached, two.path
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("qwen_loaded", "single-pass + prompt cache"),
        ("qwen25_loaded", "single-pass + prompt cache"),
        # LLaVA-1.5's chat template puts the image before the text: nothing static to cache
        ("llava_loaded", "single-pass"),
    ],
)
def test_every_family_is_scored_on_the_fast_path(which, expected, request, faces, caplog):
    # given a tiny model of each family, as loaded on the transformers release installed
    model, processor = request.getfixturevalue(which)
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    # then its code supports the one-pass tree mask and the prompt cache, for no stated reason
    caps = scorer.capabilities
    assert caps.single_pass and caps.prompt_cache, caps.reasons
    # and scoring runs that path: no two-pass call happens, the prompt's cache is built once
    scorer._prefix_pass = None  # type: ignore[method-assign]  # calling it would raise
    with caplog.at_level("WARNING"):
        probs = scorer.score(faces[:2], RAF_COMPOUND)
        scorer.score(faces[1:], RAF_COMPOUND)
    assert scorer.path == expected
    assert len(scorer._static) == (1 if "cache" in expected else 0), "prompt cache use"
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)


def test_one_face_alone_scores_as_in_a_batch(qwen_loaded, faces):
    # the cache expansion must not mix faces: each face's row equals its solo result
    model, processor = qwen_loaded
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    together = scorer.score(faces, RAF_COMPOUND)
    alone = np.vstack([scorer.score([f], RAF_COMPOUND) for f in faces])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.abs(together[0] - together[1]).max() > 1e-3, (
        "different faces should score differently"
    )


def test_probabilities_sum_to_one_for_mixed_face_sizes(qwen_loaded, faces):
    model, processor = qwen_loaded
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    odd = np.full((112, 168, 3), 90, np.uint8)
    probs = scorer.score([faces[0], odd, faces[1]], RAF_COMPOUND)
    assert probs.shape == (3, 11)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(
        probs[[0, 2]], scorer.score([faces[0], faces[1]], RAF_COMPOUND), atol=1e-5
    )


def test_trie_runs_a_prefix_once_and_needs_a_distribution_per_distinct_prefix():
    # given labels whose tokens share prefixes (end token = 9)
    trie = LabelTrie.build([(1, 9), (1, 2, 9), (1, 2, 3, 9), (4, 9)])
    # then (1,2,3) covers the rows (1,) and (1,2); (4,) needs its own row
    assert set(trie.rows) == {(1, 2, 3), (4,)}
    assert set(trie.prefixes) == {(1,), (1, 2), (1, 2, 3), (4,)}
    for prefix, (row, pos) in zip(trie.prefixes, trie.where, strict=True):
        assert trie.rows[row][: pos + 1] == prefix


def test_labels_with_identical_tokens_are_refused():
    with pytest.raises(ScoringError, match="same tokens"):
        LabelTrie.build([(1, 9), (1, 9)])


def test_nested_labels_keep_their_end_token(qwen_loaded):
    # "Happily" must be scored with its end token, so it is not a prefix of "Happily Surprised"
    _, processor = qwen_loaded
    seqs = label_token_ids(processor, NESTED, prompt_for(NESTED))
    assert seqs[1][: len(seqs[0]) - 1] == seqs[0][:-1]
    assert seqs[0][-1] != seqs[1][len(seqs[0]) - 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Happily Surprised", "Happily Surprised"),
        ("happily surprised.", "Happily Surprised"),
        ("  Happily_Surprised", "Happily Surprised"),
        ("Sadly-Angry!", "Sadly Angry"),
        ("The face looks sadly angry to me", "Sadly Angry"),
        ("Sadly Angry, or maybe Sadly Fearful", "Sadly Angry"),
        ("maybe sadly fearful or happily surprised", None),
        ("I cannot tell", None),
        ("", None),
        ("Happily Surpr", None),
    ],
)
def test_parser_maps_free_answers_to_a_label_or_unknown(text, expected):
    index = parse_answer(text, RAF_COMPOUND)
    assert (None if index is None else RAF_COMPOUND.labels[index]) == expected


def test_parser_prefers_the_longest_label():
    ls = get_label_set("custom:Surprise,Happily Surprise")
    assert ls.labels[parse_answer("it is happily surprise", ls)] == "Happily Surprise"


def test_generation_mode_returns_parsed_answers(qwen_loaded, faces):
    model, processor = qwen_loaded
    answers = generate_answers(model, processor, faces[:2], RAF_COMPOUND, None, ImageLimits())
    assert len(answers) == 2
    for a in answers:
        assert isinstance(a.text, str)
        assert a.label_index == parse_answer(a.text, RAF_COMPOUND)


def test_prompt_cache_is_reused_across_calls_and_changes_nothing(qwen_loaded, faces):
    # given the Qwen2-VL prompt (text before the image), scored with and without its cache
    model, processor = qwen_loaded
    cached = ClosedSetScorer(model, processor, None, ImageLimits())
    plain = ClosedSetScorer(model, processor, None, ImageLimits())
    plain.reuse_prompt_cache = False
    first = cached.log_likelihoods(faces[:2], RAF_COMPOUND)
    second = cached.log_likelihoods(faces[1:], RAF_COMPOUND)
    # then one static prompt cache serves both calls and the results are those without it
    assert len(cached._static) == 1, "the prompt's cache should be computed once"
    assert len(next(iter(cached._static))) >= 50, "the whole instruction should be cached"
    np.testing.assert_allclose(first, plain.log_likelihoods(faces[:2], RAF_COMPOUND), atol=1e-4)
    np.testing.assert_allclose(second[0], first[1], atol=1e-4)


def test_prompt_cache_also_serves_models_with_plain_positions(llava_dir, faces):
    # given a LLaVA whose template puts the prompt before the image (a cacheable prefix)
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    model, processor = load_base(ModelSpec(base=str(llava_dir)))
    processor.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: "
        "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}\n"
        "{% else %}<image>{% endif %}{% endfor %} "
        "{% else %}ASSISTANT: {{ m['content'][0]['text'] }}</s>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    scorer = ClosedSetScorer(model, processor, None, ImageLimits())
    batched = scorer.log_likelihoods(faces[:2], RAF_COMPOUND)
    # then the static cache is used and the scores equal the plain reference
    assert len(scorer._static) == 1 and scorer.reuse_prompt_cache
    reference = reference_log_likelihoods(
        model, processor, faces[:2], RAF_COMPOUND, None, ImageLimits()
    )
    np.testing.assert_allclose(batched, reference, atol=1e-4)
