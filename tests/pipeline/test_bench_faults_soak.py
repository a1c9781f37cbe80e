"""`cer bench faults` and `cer bench soak` run their real cases and report the documented keys
(figures are the benchmarks' business; these check that the cases run and judge correctly)."""

from __future__ import annotations

import argparse
import json

import pytest


def _args(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
def test_faults_cases_run_and_pass(tmp_path):
    from cer_desktop.bench import faults

    args = _args(faults, ["--only", "camera,corrupt,settings,kills", "--per-kind", "2"])
    args.kills = 2
    result = faults.run(args)
    assert result["crashes"] == 0, result["crash_details"]
    assert result["camera_loss_ok"] is True, result
    assert result["settings_ok"] and result["unwritable_ok"], result
    # 8 kinds x 2 corrupt files, each listed in annotate's summary, and the good two annotated
    assert result["corrupt_inputs"] == 16 == result["corrupt_reported"]
    assert result["good_inputs_annotated"] == 2 and result["annotate_exit_code"] == 1
    assert result["kills"] + result["kills_before_session"] >= 2
    assert result["rows_lost"] == 0 and result["unplayable"] == 0, result
    assert result["recovered"] == result["sessions"]


@pytest.mark.slow
def test_faults_remote_edge_cases_run_and_pass(tmp_path):
    from cer_desktop.bench import faults

    result = faults.run(_args(faults, ["--only", "hung_server,proxy"]))
    assert result["crashes"] == 0, result["crash_details"]
    assert result["hung_server_ok"] is True, result
    assert result["hung_server_fallback_after_s"] <= result["hung_server_deadline_s"] + 0.5
    assert result["hung_server_close_s"] <= 1.0
    assert result["proxy_ok"] is True, result
    assert result["proxy_connections"] == 0 and result["proxy_control_reached"] is True


@pytest.mark.slow
def test_soak_reports_its_figures(tmp_path):
    from cer_desktop.bench import soak

    result = soak.run(_args(soak, ["--minutes", "0.1", "--out", str(tmp_path / "s")]))
    for key in (
        "rss_growth_mb_per_hour",
        "display_fps_min",
        "frames_dropped",
        "recorder_queue_max",
        "fds_start",
        "fds_end",
        "threads_start",
        "threads_end",
        "minutes",
    ):
        assert key in result, f"{key} missing"
    assert result["frames_written"] > 0 and result["recorder_error"] is None
    assert (tmp_path / "s" / "manifest.json").exists()
    # the soak drives what users run: the window's session with its recording
    assert result["composition"] == "LiveSession + SessionRecording"
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["mode"] == "bench" and manifest["smoothing"] == 0.5, (
        "the manifest is the session recording's (its smoothing), not a hand-built recorder's"
    )


@pytest.mark.slow
def test_faults_session_edge_cases_run_and_pass(tmp_path):
    """`shared_folder` (two recorders with two host names, recovery on a third touches no
    live session) and `setting_change` (the recording goes on through a setting change, or
    the change is refused), each alone with --only."""
    from cer_desktop.bench import faults

    for name, key in (
        ("shared_folder", "shared_folder_ok"),
        ("setting_change", "setting_change_recording_ok"),
    ):
        result = faults.run(_args(faults, ["--only", name]))
        assert result["crashes"] == 0, result["crash_details"]
        assert result[key] is True, result
        assert list(result["seconds_by_case"]) == [name]
    assert result["setting_change_events"][0][0] == "max_faces"
