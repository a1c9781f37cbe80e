"""One vocabulary per kind of name, and one meaning of dtype "auto" in the app and training."""

from __future__ import annotations

import pytest

from cer_desktop.option_values import (
    IMAGE_SUFFIXES,
    VocabularyError,
    device_name,
    dtype_name,
    is_image,
    is_video,
    quant_name,
)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [(None, "none"), ("4bit", "nf4"), ("NF4", "nf4"), ("8bit", "int8"), ("none", "none")],
)
def test_quantisation_spellings_have_one_name(given, canonical):
    assert quant_name(given) == canonical


@pytest.mark.parametrize(
    ("given", "canonical"),
    [(None, "auto"), ("bfloat16", "bf16"), ("float32", "fp32"), ("half", "fp16"), ("BF16", "bf16")],
)
def test_dtype_spellings_have_one_name(given, canonical):
    assert dtype_name(given) == canonical


def test_unknown_names_say_what_is_valid():
    with pytest.raises(VocabularyError, match="nf4"):
        quant_name("fp3")
    with pytest.raises(VocabularyError, match="bf16"):
        dtype_name("fp64")
    with pytest.raises(VocabularyError, match="cuda:N"):
        device_name("tpu")
    assert device_name("cuda:1") == "cuda:1"


def test_suffixes():
    assert is_image("a/B.JPG") and is_image("x.tiff") and not is_image("clip.mp4")
    assert is_video("clip.MP4") and not is_video("a.png")
    assert ".webp" in IMAGE_SUFFIXES


def test_every_reader_uses_the_same_image_suffixes():
    from cer_desktop.annotate import batch as annotate
    from cer_desktop.capture import files

    assert files.IMAGE_SUFFIXES is IMAGE_SUFFIXES and annotate.IMAGE_SUFFIXES is IMAGE_SUFFIXES


def test_spec_recipe_and_settings_accept_the_same_names():
    from cer_desktop.option_values import QUANTS as VOCAB_QUANTS
    from cer_desktop.recognition.lvlm.spec import ModelSpec, SpecError
    from cer_desktop.settings import QUANTS
    from cer_desktop.training.recipe import Recipe, RecipeError, verify_recipe

    assert QUANTS is VOCAB_QUANTS
    assert ModelSpec(base="m", quant="4bit", dtype="bfloat16").dtype == "bf16"
    with pytest.raises(SpecError, match="fp64"):
        ModelSpec(base="m", dtype="fp64")
    recipe = Recipe()
    bad = type(recipe.model)(base="some/model", dtype="fp64")
    with pytest.raises(RecipeError, match="model.dtype"):
        verify_recipe(
            type(recipe)(
                model=bad, method=recipe.method, dataset=recipe.dataset, train=recipe.train
            )
        )


@pytest.mark.parametrize(("forced", "expected"), [("1", "bfloat16"), ("0", "float32")])
def test_auto_means_the_same_in_training_and_in_the_app(monkeypatch, forced, expected):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU rule")
    from cer_desktop.recognition.lvlm.loading import resolve_dtype
    from cer_desktop.training.trainer import compute_dtype

    monkeypatch.setenv("CER_CPU_BF16", forced)
    assert compute_dtype("auto") == resolve_dtype("auto", "cpu") == getattr(torch, expected)
    assert compute_dtype("float32") == torch.float32 and compute_dtype("bfloat16") == torch.bfloat16
