"""`cer data synth`, `cer data check`, `cer train --check/--help-recipe/--example` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import cer

from cer_desktop.labels import RAF_BASIC
from cer_desktop.training.datasets import read_cexpr, read_rafdb
from cer_desktop.training.synthetic import FEATURES, contact_sheet, draw_face


@pytest.mark.parametrize("flag", ["--videos", "--frames", "--n-train", "--n-test"])
def test_synth_refuses_a_count_below_one_with_a_message(tmp_path: Path, capsys, flag) -> None:
    assert cer(["data", "synth", str(tmp_path / "out"), flag, "0"]) == 2
    assert f"{flag} must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "nothing half-written"


def test_synth_writes_rafdb_and_cexpr_layouts_the_readers_accept(tmp_path: Path, capsys) -> None:
    rc = cer(
        [
            "data",
            "synth",
            str(tmp_path),
            "--n-train",
            "2",
            "--n-test",
            "1",
            "--videos",
            "1",
            "--frames",
            "2",
            "--size",
            "56",
        ]
    )
    assert rc == 0
    assert "bypass" in capsys.readouterr().out, "the output says drawn faces skip the aligner"
    basic = read_rafdb(tmp_path / "basic", "train")
    assert basic.counts() == {lab: 2 for lab in RAF_BASIC.labels}
    compound = read_rafdb(tmp_path / "compound", "test", variant="original")
    assert len(compound) == 11
    assert len(read_cexpr(tmp_path / "cexpr", "labels.csv")) == 7 * 2
    assert cer(["data", "check", str(tmp_path / "compound")]) == 0


def test_every_class_has_distinct_features() -> None:
    # two classes of one label set drawn identically could never be told apart
    basic = [FEATURES[lab] for lab in RAF_BASIC.labels]
    assert len(set(basic)) == len(basic)
    compound = [v for k, v in FEATURES.items() if " " in k]
    assert len(set(compound)) == len(compound) == 11


def test_nuisance_varies_within_a_class_and_styles_differ() -> None:
    rng = np.random.default_rng(0)
    a = draw_face("Happily Surprised", rng, size=56)
    b = draw_face("Happily Surprised", rng, size=56)
    assert a.shape == (56, 56, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10, "two draws should differ"
    sketch = contact_sheet(RAF_BASIC, per_class=2, size=56, style="sketch")
    filled = contact_sheet(RAF_BASIC, per_class=2, size=56, style="filled")
    assert sketch.mean() > filled.mean() + 30, "the sketch style is pen on light paper"


def _synth_one_each(folder: Path) -> None:
    """The smallest synthetic data set: one 28 px image per class and split, one clip."""
    args = ["--n-train", "1", "--n-test", "1", "--videos", "1", "--frames", "1", "--size", "28"]
    assert cer(["data", "synth", str(folder), *args]) == 0


def test_check_reports_broken_lines(tmp_path: Path, capsys) -> None:
    _synth_one_each(tmp_path)
    label_file = tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "train_99999.jpg x\n")
    assert cer(["data", "check", str(tmp_path / "basic")]) == 2
    assert f"{label_file}:15: expected" in capsys.readouterr().err


def test_train_check_and_help(tmp_path: Path, capsys) -> None:
    _synth_one_each(tmp_path / "d")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model:\n  base: some/model\n"
        "dataset:\n  root: d/basic\n  align: none\n  crop_size: 28\n"
        "train:\n  output_dir: runs/s1\n"
    )
    assert cer(["train", str(recipe), "--check"]) == 0
    assert "recipe and data set OK" in capsys.readouterr().out
    assert cer(["train", str(recipe), "--set", "method.create_new_adapter=true"]) == 2
    assert "create_new_adapter" in capsys.readouterr().err
    assert cer(["train", "--help-recipe"]) == 0
    assert "modules_to_save" in capsys.readouterr().out
    assert cer(["train", "--example", "stage2"]) == 0
    assert "adapter:" in capsys.readouterr().out
