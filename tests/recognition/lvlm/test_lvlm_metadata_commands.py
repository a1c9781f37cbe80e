"""Adapter metadata (`cer_adapter.json`) and the `cer models` listing."""

from __future__ import annotations

import json

import pytest

from cer_desktop.labels import C_EXPR, RAF_COMPOUND
from cer_desktop.recognition.lvlm.commands import classify_folder, list_local, scan_folder
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.metadata import (
    METADATA_FILE,
    AdapterMetadata,
    MetadataError,
    read_metadata,
)
from cer_desktop.recognition.lvlm.prompts import get_prompt


def test_metadata_round_trips_through_the_adapter_folder(tmp_path):
    md = AdapterMetadata.create(
        C_EXPR,
        get_prompt("c_expr"),
        crop_size=160,
        base_model="Qwen/Qwen2-VL-2B-Instruct",
        recipe={"lr": 2e-4},
    )
    path = md.write(tmp_path)
    assert path.name == METADATA_FILE
    back = read_metadata(tmp_path)
    assert back == md
    assert back.to_label_set() is C_EXPR
    assert back.to_prompt() == get_prompt("c_expr")
    assert back.to_limits() == ImageLimits.for_crop(160)


def test_folder_without_metadata_reads_as_none(tmp_path):
    assert read_metadata(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "cannot read"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"label_set": "x", "labels": ["A"]}), "lacks"),
        (
            json.dumps(
                {
                    "label_set": "x",
                    "labels": ["A", "a"],
                    "prompt_id": "p",
                    "prompt_text": "{labels}",
                }
            ),
            "twice",
        ),
        (
            json.dumps(
                {"label_set": "x", "labels": ["A", ""], "prompt_id": "p", "prompt_text": "{labels}"}
            ),
            "empty",
        ),
        (
            json.dumps(
                {"label_set": "x", "labels": ["A"], "prompt_id": "p", "prompt_text": "no slot"}
            ),
            "placeholder",
        ),
    ],
)
def test_broken_metadata_is_a_named_error(tmp_path, content, match):
    (tmp_path / METADATA_FILE).write_text(content)
    with pytest.raises(MetadataError, match=match):
        read_metadata(tmp_path)


def test_models_listing_finds_local_models_and_adapters(tmp_path, qwen_dir):
    from cer_desktop.testing.tiny_models import save_random_lora

    md = AdapterMetadata.create(RAF_COMPOUND, get_prompt("raf_compound"), base_model=str(qwen_dir))
    save_random_lora(qwen_dir, tmp_path / "adapters" / "stage2", metadata=md)
    (tmp_path / "empty").mkdir()
    items = scan_folder(tmp_path)
    assert [(i.kind, i.name, i.label_set) for i in items] == [("adapter", "stage2", "raf_compound")]
    model = classify_folder(qwen_dir)
    assert model is not None and model.kind == "model" and model.size_bytes > 0
    names = [i.name for i in list_local([str(tmp_path), str(qwen_dir)])]
    assert "stage2" in names and qwen_dir.name in names


def test_models_command_prints_json(tmp_path, qwen_dir, capsys):
    import argparse

    from cer_desktop.recognition.lvlm.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["models", "--dir", str(qwen_dir.parent), "--json"])
    assert args.func(args) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(i["path"] == str(qwen_dir) and i["kind"] == "model" for i in listed)


def test_models_pull_refuses_offline(capsys):
    import argparse

    from cer_desktop.recognition.lvlm.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["models", "pull", "Qwen/Qwen2-VL-2B-Instruct"])
    assert args.func(args) == 1, "tests run with HF_HUB_OFFLINE=1: pull must refuse, not hang"
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err
