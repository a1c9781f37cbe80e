"""`cer bench record` runs end to end (a short smoke run; the figures belong in BENCHMARKS.md)."""

from __future__ import annotations

import argparse

from cer_desktop.bench import record


def test_bench_record_reports_every_figure(tmp_path):
    parser = argparse.ArgumentParser()
    record.add_arguments(parser)
    args = parser.parse_args(["--seconds", "1.5", "--out", str(tmp_path / "s")])
    result = record.run(args)
    for key in (
        "source_fps",
        "frames_in",
        "frames_written",
        "frames_dropped",
        "writer_cpu_percent",
    ):
        assert key in result, key
    assert result["frames_in"] > 0
    assert result["frames_written"] + result["frames_dropped"] == result["frames_in"]
    assert result["annotated_frames_decoded"] == result["frames_written"]
    assert result["raw_frames_decoded"] == result["frames_written"]
    assert result["recorder_error"] is None
