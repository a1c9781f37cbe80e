"""`cer export --merge ADAPTER -o FOLDER`: merged model saved, its scores checked in-process."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm import export
from cer_desktop.recognition.lvlm.metadata import METADATA_FILE, AdapterMetadata
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.testing.tiny_models import save_random_lora


@pytest.fixture(scope="module")
def adapter(qwen_dir, tmp_path_factory):
    meta = AdapterMetadata.create(RAF_COMPOUND, prompt_for(RAF_COMPOUND), base_model=str(qwen_dir))
    # language model and vision tower (vLLM would ignore the vision-tower part of a LoRA)
    return save_random_lora(
        qwen_dir,
        tmp_path_factory.mktemp("adapter") / "lora",
        target_modules=("q_proj", "v_proj", "qkv"),
        std=0.3,
        metadata=meta,
    )


def _cer(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    export.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_export_merges_and_the_saved_model_scores_as_base_plus_adapter(
    adapter, qwen_dir, tmp_path, capsys
):
    out = tmp_path / "merged"
    assert _cer("export", "--merge", str(adapter), "-o", str(out)) == 0
    assert "scores equal base + adapter" in capsys.readouterr().out
    assert (out / "config.json").is_file() and (out / METADATA_FILE).is_file()
    assert not (out / "adapter_config.json").exists(), "a plain model, no adapter left"
    # the adapter matters: the merged model does not score like the base alone
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    faces = export._test_faces(2, 224)
    scores = []
    for folder in (qwen_dir, out):
        model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
        scores.append(ClosedSetScorer(model, processor).log_likelihoods(faces, RAF_COMPOUND))
    assert np.abs(scores[0] - scores[1]).max() > 1e-2


def test_export_check_fails_when_the_merge_loses_the_adapter(adapter, tmp_path, monkeypatch):
    from peft import PeftModel

    # a broken merge: the adapter removed instead of folded in
    monkeypatch.setattr(
        PeftModel, "merge_and_unload", lambda self, *a, **k: self.unload(), raising=False
    )
    with pytest.raises(export.ExportError, match="scores differently"):
        export.export_merged(adapter, tmp_path / "bad")


def test_export_refuses_a_non_empty_folder_and_a_missing_base(adapter, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert _cer("export", "--merge", str(adapter), "-o", str(full)) == 1
    assert "not empty" in capsys.readouterr().err
    assert _cer("export", "--merge", str(tmp_path / "nope"), "-o", str(tmp_path / "o")) == 1


def test_export_without_metadata_saves_the_recognizer_s_one_tile_for_a_smolvlm(tmp_path):
    import json

    from cer_desktop.testing.families.smolvlm import build_tiny_smolvlm

    # a SmolVLM2 whose tile (224 px) holds the recognizer's 224-px face, as SmolVLM2's 512
    base = build_tiny_smolvlm(tmp_path / "base", vision_config={"image_size": 224})
    saved = json.loads((base / "processor_config.json").read_text(encoding="utf-8"))
    assert saved["image_processor"]["do_image_splitting"] is True  # the released setting
    adapter = save_random_lora(base, tmp_path / "lora", std=0.3)  # no cer_adapter.json
    out = tmp_path / "merged"
    # when exported without metadata, then the folder tiles a face as the recognizer sends
    # it (`ImageLimits.for_crop(224)`: one tile), which is all a server reads
    assert _cer("export", "--merge", str(adapter), "--base", str(base), "-o", str(out)) == 0
    saved = json.loads((out / "processor_config.json").read_text(encoding="utf-8"))
    assert saved["image_processor"]["do_image_splitting"] is False
