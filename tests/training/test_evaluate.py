"""`cer eval` through the app's scorer: outputs, zero-shot C-EXPR-DB, ABAW file, recognizer parity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SIZE, cer, recipe_dict

from cer_desktop.labels import C_EXPR
from cer_desktop.training.datasets import ImagePreparer, read_cexpr, read_rafdb
from cer_desktop.training.evaluate import evaluate, load_model, write_abaw
from cer_desktop.training.recipe import recipe_from_dict
from cer_desktop.training.trainer import train


@pytest.fixture(scope="module")
def compound_adapter(
    tiny_qwen: Path, synth: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("eval_run")
    d = recipe_dict(tiny_qwen, synth / "compound", out, method={"modules_to_save": ["lm_head"]})
    return train(recipe_from_dict(d)).adapter_dir


def test_cer_eval_writes_metrics_table_png_and_predictions(
    tiny_qwen: Path, synth: Path, compound_adapter: Path, tmp_path: Path, capsys
) -> None:
    rc = cer(
        [
            "eval",
            "--base",
            str(tiny_qwen),
            "--adapter",
            str(compound_adapter),
            "--data",
            str(synth / "compound"),
            "--out",
            str(tmp_path / "ev"),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n"] == 11 and metrics["label_set"] == "raf_compound"
    assert 0.0 <= metrics["accuracy"] <= 1.0 and "macro_f1" in metrics
    assert set(metrics["per_class"]) == set(json.loads(json.dumps(metrics["per_class"])))
    assert (tmp_path / "ev" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.reader((tmp_path / "ev" / "predictions.csv").open()))
    assert len(rows) == 12 and rows[0][:3] == ["image", "true", "predicted"]
    assert "macro-F1" in capsys.readouterr().out


def test_zero_shot_cexpr_over_its_7_labels_and_the_abaw_file(
    tiny_qwen: Path, synth: Path, compound_adapter: Path, tmp_path: Path
) -> None:
    # given the compound adapter and C-EXPR-DB-layout frames
    loaded = load_model(str(tiny_qwen), str(compound_adapter), device="cpu")
    data = read_cexpr(synth / "cexpr", "labels.csv")
    # when scored over C-EXPR-DB's 7 labels only
    res = evaluate(loaded, data, ImagePreparer("none", SIZE), label_set=C_EXPR)
    assert res.probs.shape == (len(data), 7)
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, rtol=1e-6)
    # then the ABAW file has the challenge's header and one class index per frame
    path = write_abaw(res, tmp_path / "pred.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == [
        "image_location",
        "Fearfully_Surprised",
        "Happily_Surprised",
        "Sadly_Surprised",
        "Disgustedly_Surprised",
        "Angrily_Surprised",
        "Sadly_Fearful",
        "Sadly_Angry",
    ]
    assert [r[0] for r in rows[1:]] == [s.key for s in data.samples]
    assert all(r[0].count("/") == 1 and r[1] in list("0123456") for r in rows[1:]), rows[1:3]


def test_abaw_file_refuses_other_label_sets(
    tiny_qwen: Path, synth: Path, compound_adapter: Path, tmp_path: Path
) -> None:
    loaded = load_model(str(tiny_qwen), str(compound_adapter), device="cpu")
    res = evaluate(loaded, read_rafdb(synth / "compound", "test"), ImagePreparer("none", SIZE))
    with pytest.raises(ValueError, match="C-EXPR-DB labels"):
        write_abaw(res, tmp_path / "x.csv")


def test_eval_predictions_equal_the_app_recognizer(
    tiny_qwen: Path, synth: Path, compound_adapter: Path
) -> None:
    from cer_desktop.contracts import Face
    from cer_desktop.recognition.lvlm.recognizer import LVLMRecognizer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    # given the same images scored by `cer eval`'s path and by the live recognizer
    data = read_rafdb(synth / "compound", "test")
    prep = ImagePreparer("none", SIZE)
    loaded = load_model(str(tiny_qwen), str(compound_adapter), device="cpu")
    res = evaluate(loaded, data, prep)
    rec = LVLMRecognizer(
        ModelSpec(base=str(tiny_qwen), adapter=str(compound_adapter), device="cpu")
    )
    try:
        faces = [
            Face(k, 0, (0, 0, SIZE, SIZE), np.zeros((478, 3), np.float32), prep(s.path))
            for k, s in enumerate(data.samples)
        ]
        live = np.array([p.probs for p in rec.predict(faces, data.label_set)])
    finally:
        rec.close()
    # then they agree
    np.testing.assert_allclose(live, res.probs, atol=1e-4)
    assert (live.argmax(1) == res.predictions).all()


def test_inputs_all_compares_originals_rafdb_aligned_and_the_app_alignment(
    tiny_qwen: Path, synth: Path, compound_adapter: Path, tmp_path: Path, capsys
) -> None:
    rc = cer(
        [
            "eval",
            "--base",
            str(tiny_qwen),
            "--adapter",
            str(compound_adapter),
            "--data",
            str(synth / "compound"),
            "--inputs",
            "all",
            "--out",
            str(tmp_path / "ev"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    for inputs in ("original", "aligned", "app"):
        assert (tmp_path / "ev" / inputs / "metrics.json").is_file(), inputs
    assert "inputs: app" in out and "inputs: original" in out
    assert out.count("accuracy") >= 3
    # the app path went through the aligner and cached its crops
    assert list((tmp_path / "cache").rglob("*.png")), "no aligned crops cached"
