"""The curated model list: its recorded facts checked where the repository can, the rule applied."""

from __future__ import annotations

import pytest

from cer_desktop.recognition.lvlm.catalog import CURATED, CuratedModel, find, recommended


def _count_params(family, shape: str) -> float:
    """Parameters (billions) of a family's real-dimension shape, built on the meta device."""
    import torch
    import transformers

    cls_name = {"qwen3_vl": "Qwen3VL", "qwen3_5": "Qwen3_5"}[family.model_type]

    dims = dict(family.shapes[shape])
    text = {k: v for k, v in dims.pop("text").items() if v is not None}
    theta = text.pop("rope_theta", 1e6)
    section = text.pop("mrope_section", None)
    rope = {"rope_type": "default", "rope_theta": theta}
    if section:
        rope.update(mrope_section=section, mrope_interleaved=True)
    tie = dims.get("tie_word_embeddings", False)
    config = getattr(transformers, f"{cls_name}Config")(
        text_config={**text, "vocab_size": dims["vocab_size"], "rope_parameters": rope,
                     "tie_word_embeddings": tie},
        vision_config={**dims["vision"], "out_hidden_size": text["hidden_size"]},
        tie_word_embeddings=tie,
    )  # fmt: skip
    with torch.device("meta"):
        model = getattr(transformers, f"{cls_name}ForConditionalGeneration")(config)
    return sum(p.numel() for p in model.parameters()) / 1e9


@pytest.mark.parametrize(
    ("model_id", "shape"),
    [("Qwen/Qwen3-VL-2B-Instruct", "qwen3-vl-2b"), ("Qwen/Qwen3-VL-4B-Instruct", "qwen3-vl-4b")],
)
def test_recorded_parameter_counts_match_the_real_dimension_shapes(model_id, shape):
    from cer_desktop.testing.families import family_of_shape

    entry = find(model_id)
    assert entry is not None
    counted = _count_params(family_of_shape(shape), shape)
    assert abs(counted - entry.params_b) < 0.01, (model_id, counted, entry.params_b)


def test_every_entry_names_a_family_and_fully_proven_ones_are_in_the_registry():
    from cer_desktop.testing.families import FAMILIES

    ids = [m.model_id for m in CURATED]
    assert len(ids) == len(set(ids))
    for m in CURATED:
        assert m.params_b > 0 and m.licence and m.advice, m
        if m.proven:  # what ran here is a registered family, proven as far as it says
            assert m.model_type in FAMILIES, m
        # the list and the registry say the same: "full" exactly for fully supported families
        assert (m.proven == "full") == FAMILIES[m.model_type].full_support, m
        assert m.proven in ("full", "scored"), (
            f"{m.model_id}: every family here has exactness tests"
        )


def test_the_recommendation_follows_its_rule():
    rec = recommended()
    assert rec.proven == "full" and rec.licence == "Apache-2.0"
    assert rec.model_id == "Qwen/Qwen3-VL-2B-Instruct"  # 2.13 B < Qwen2-VL-2B's 2.21 B
    # a smaller model that is not fully proven, or not permissively licensed, does not win
    tiny = CuratedModel("x/tiny", "smolvlm", 0.1, "Apache-2.0", "scored", "")
    small = CuratedModel("x/small", "smolvlm", 0.256, "Apache-2.0", "full", "")  # < MIN_PARAMS_B
    odd = CuratedModel("x/odd", "qwen3_vl", 0.2, "Custom", "full", "")
    assert recommended((*CURATED, tiny, odd, small)) == rec
    with pytest.raises(LookupError):
        recommended((tiny,))
