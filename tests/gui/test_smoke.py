"""`cer-desktop --smoke`: passes on a working install, fails with a reason on a broken one."""

from __future__ import annotations

import csv
import json

import pytest

from cer_desktop.gui import smoke
from cer_desktop.session import live
from cer_desktop.session.verify import RecordingCheckFailed, check_recording
from cer_desktop.testing.fakes import FakeAnalyzer

pytestmark = pytest.mark.core


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_smoke_records_the_demo_through_the_window_and_checks_it(qapp, capsys, tmp_path):
    # (earlier tests in this process may have imported an extra: only new imports count)
    before = smoke.heavy_modules_imported()
    # When the smoke test runs on this install (real demo, MediaPipe, instant recognizer)
    code = smoke.run_smoke(keep=str(tmp_path / "kept"))
    result = _last_json(capsys)
    # then it passes and says what it checked
    assert code == 0, result
    assert result["smoke"] == "ok" and result["recognizer"] == "instant"
    assert result["video_frames"] == result["frames_written"] >= smoke.SMOKE_FRAMES
    assert result["frames_with_face"] >= result["frames_written"] // 2
    assert result["csv_rows"] >= result["frames_with_face"]
    assert result["heavy_modules"] == before, "the smoke path imports no extra"
    # and the session it checked is the one kept on disk
    (session,) = (tmp_path / "kept" / "sessions").iterdir()
    assert (session / "annotated.mp4").stat().st_size > 0


def test_smoke_fails_when_no_face_is_found(qapp, capsys, monkeypatch):
    # Given a face analysis that finds nothing (as MediaPipe does without its model files)
    monkeypatch.setattr(live, "default_analyzer_factory", lambda n, crop: FakeAnalyzer(boxes=()))
    code = smoke.run_smoke(frames=10)
    result = _last_json(capsys)
    # then the smoke test fails and says why
    assert code == 1
    assert result["smoke"] == "failed"
    assert "found a face in 0 of" in result["reason"], result


def test_session_check_catches_a_csv_that_disagrees_with_the_manifest(qapp, capsys, tmp_path):
    # Given a good recorded session
    assert smoke.run_smoke(frames=10, keep=str(tmp_path)) == 0, capsys.readouterr().out
    (session,) = (tmp_path / "sessions").iterdir()
    assert check_recording(session, 10)["csv_rows"] > 0
    # when its CSV loses its last row
    (part,) = session.glob("frames*.csv")
    with part.open(newline="") as f:
        rows = list(csv.reader(f))
    with part.open("w", newline="") as f:
        csv.writer(f).writerows(rows[:-1])
    # then the check fails with the reason
    with pytest.raises(RecordingCheckFailed, match="frames.csv has"):
        check_recording(session, 10)


def test_a_missing_platform_plugin_is_named(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    with pytest.raises(smoke.SmokeFailure, match="'no-such-platform' is missing"):
        smoke.check_platform_plugin()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert "offscreen" in smoke.check_platform_plugin()
