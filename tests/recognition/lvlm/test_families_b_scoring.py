"""SmolVLM2, Gemma 3, InternVL3.5, LLaVA-OneVision: tiny models of their own classes, scored
exactly on the path the capability checks choose; their real-dimension shapes add up."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cer_desktop.labels import BUILTIN, RAF_COMPOUND
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts
from cer_desktop.recognition.lvlm.generation import reference_log_likelihoods
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

FAMILY_MODULES = ("smolvlm", "gemma3", "internvl", "llava_onevision")
FAST = "single-pass + prompt cache"
# LLaVA-OneVision's chat template renders the image before the text: nothing static to cache
EXPECTED_PATH = {
    "smolvlm": FAST,
    "gemma3": FAST,
    "internvl": FAST,
    "llava_onevision": "single-pass",
}


def _module(name: str) -> Any:
    return importlib.import_module(f"cer_desktop.testing.families.{name}")


def _load(folder: Path) -> tuple[Any, Any]:
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's tiny model, built once (by its registry entry's `build_tiny`)."""
    root = tmp_path_factory.mktemp("families_b")
    return {name: _module(name).FAMILY.build_tiny(root / name) for name in FAMILY_MODULES}


@pytest.fixture(scope="session")
def family_loaded(family_dirs: dict[str, Path]) -> dict[str, tuple[Any, Any]]:
    return {name: _load(folder) for name, folder in family_dirs.items()}


@pytest.mark.parametrize("name", FAMILY_MODULES)
def test_every_label_set_scores_as_the_one_label_at_a_time_reference(
    name, family_loaded, faces, monkeypatch
):
    # given a family's tiny model, loaded as the app loads it, and two faces
    model, processor = family_loaded[name]
    one = ClosedSetScorer(model, processor, None, ImageLimits())
    two = ClosedSetScorer(model, processor, None, ImageLimits())
    two.single_pass = False

    def no_prefix_pass(*args, **kwargs):
        raise AssertionError("the single-pass scorer fell back to two passes")

    monkeypatch.setattr(one, "_prefix_pass", no_prefix_pass)
    assert one.capabilities.single_pass, one.capabilities.reasons
    for label_set in BUILTIN.values():
        # when each built-in label set is scored in one pass, in two, and label by label (two
        # faces in a batch for the compound set; the slow reference sees one for the others)
        some = faces[:2] if label_set is RAF_COMPOUND else faces[:1]
        single = one.log_likelihoods(some, label_set)
        double = two.log_likelihoods(some, label_set)
        reference = reference_log_likelihoods(
            model, processor, some, label_set, None, ImageLimits()
        )
        # then all three agree (fp32), on the path the capability checks chose
        assert np.ptp(reference) > 1.0, f"{label_set.name}: the reference must discriminate"
        np.testing.assert_allclose(single, reference, atol=1e-4, rtol=0, err_msg=label_set.name)
        np.testing.assert_allclose(double, reference, atol=1e-4, rtol=0, err_msg=label_set.name)
        assert one.path == EXPECTED_PATH[name], one.path


@pytest.mark.parametrize("name", FAMILY_MODULES)
def test_the_registry_entry_names_the_model_it_builds(name, family_dirs):
    family = _module(name).FAMILY
    config = json.loads((family_dirs[name] / "config.json").read_text())
    assert config["model_type"] == family.model_type
    assert family.shapes and family.tokenizer_note and family.notes
    assert all("-" in shape for shape in family.shapes), "shape names are <family>-<size>"


# Published sizes (model cards / reports), in billions of parameters, and the image tokens of
# a 224-px face through the family's processor as the app calls it.
SHAPE_FACTS = {
    "smolvlm2-256m": (0.256, 64),
    "smolvlm2-500m": (0.507, 64),
    "gemma3-4b": (4.30, 256),
    "internvl3.5-1b": (0.90, 256),  # InternViT-300M (0.304) + Qwen3-0.6B (0.596)
    "llava-onevision-0.5b": (0.894, 1485),  # anyres: a 384-px base tile + one unpadded crop
}


@pytest.mark.parametrize("name", FAMILY_MODULES)
def test_real_dimension_shapes_have_the_published_size_and_image_tokens(name):
    import torch
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    module = _module(name)
    face = [np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)]
    for shape, overrides in module.FAMILY.shapes.items():
        # given the shape's config, built on the meta device (no memory, no weights)
        config, processor, _ = getattr(module, f"{name}_parts")(overrides)
        cls = getattr(transformers, MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES[name])
        with torch.device("meta"):
            model = cls(config)
        billions = sum(p.numel() for p in model.parameters()) / 1e9
        # then it has the published size, and a face costs the image tokens stated
        size, tokens = SHAPE_FACTS[shape]
        assert abs(billions - size) / size < 0.02, f"{shape}: {billions:.3f} B, not {size}"
        batch = encode_prompts(
            processor, face, RAF_COMPOUND, prompt_for(RAF_COMPOUND), ImageLimits()
        )
        n = int((batch["input_ids"][0] == config.image_token_id).sum())
        assert n == tokens, f"{shape}: {n} image tokens per 224-px face"
