"""`cer bench lvlm --quick` runs end to end, reports its figures and leaves no models behind."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cer_desktop.bench import lvlm


def test_quick_bench_reports_every_figure_and_cleans_up(tmp_path, monkeypatch) -> None:
    # a temp folder of its own: another bench running on the machine must not count
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parser = argparse.ArgumentParser()
    lvlm.add_arguments(parser)
    args = parser.parse_args(["--quick", "--teach-steps", "3", "--repeats", "1"])
    before = set(Path(tempfile.gettempdir()).glob("cer_bench_lvlm_*"))
    assert tempfile.gettempdir() == str(tmp_path)
    result = lvlm.run(args)
    for key in (
        "score_vs_generate_speedup",
        "batch4_vs_4x_single_ratio",
        "nf4_model_bytes",
        "bf16_model_bytes",
        "score_ms_median",
    ):
        assert result[key] > 0, f"{key} missing or not positive: {result.get(key)}"
    assert result["nf4_model_bytes"] < result["bf16_model_bytes"]
    after = set(Path(tempfile.gettempdir()).glob("cer_bench_lvlm_*"))
    assert after == before, f"models left behind: {sorted(after - before)}"
