"""`cer bench faults --only server_death` runs its real case alone and judges it (the figures
are the benchmark's business; this checks that the case runs and passes on this code)."""

from __future__ import annotations

import argparse

import pytest


@pytest.mark.slow
def test_server_death_case_runs_alone_and_passes():
    from cer_desktop.bench import faults

    parser = argparse.ArgumentParser()
    faults.add_arguments(parser)
    result = faults.run(parser.parse_args(["--only", "server_death"]))
    assert result["crashes"] == 0, result["crash_details"]
    detail = result["server_death"]
    assert result["server_death_annotate_ok"] is True, detail
    assert detail["server_died"] and detail["first_exit"] == 1 and detail["second_exit"] == 0
    assert detail["done_with_unlabelled_frames"] == []
    assert set(result["seconds_by_case"]) == {"server_death"}, "only the case asked for ran"
