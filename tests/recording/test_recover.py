"""Recovery never deletes what it cannot prove lies beyond the end of what was written."""

from __future__ import annotations

import json
from pathlib import Path

from rec_synthetic import record

from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.recorder import SessionRecorder
from cer_desktop.recording.recover import recover_session
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames, remux


def crashed(folder: Path, n: int = 40, *, raw: bool = False, **manifest: object) -> Path:
    """A complete session of `n` frames (2 faces each) turned back into a crashed one."""
    rec = SessionRecorder(folder, block=True, record_raw=raw)
    record(rec, n)
    rec.close()
    m = read_manifest(folder)
    m.update(status="recording", pid=2**22 + 4242, **manifest)
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def test_a_missing_annotated_video_keeps_every_csv_row(tmp_path):
    # given a crashed session whose annotated video the user moved away
    folder = crashed(tmp_path / "s")
    (folder / "annotated.mp4").unlink()
    # when it is recovered
    report = recover_session(folder)
    # then no CSV row was removed: a missing stream proves nothing about the data's end
    assert len(list(read_rows(folder))) == 80, report.summary()
    assert report.csv_rows_removed == 0
    assert any("annotated.mp4 missing" in n for n in report.notes), report.notes
    assert read_manifest(folder)["status"] == "recovered"


def test_an_unreadable_annotated_video_keeps_every_csv_row_and_the_file(tmp_path):
    # given a crashed session whose annotated video is not a video any more
    folder = crashed(tmp_path / "s")
    (folder / "annotated.mp4").write_bytes(b"\x00garbage" * 100)
    # when it is recovered
    report = recover_session(folder)
    # then the rows stay and the unreadable file is left as it was
    assert len(list(read_rows(folder))) == 80, report.summary()
    assert (folder / "annotated.mp4").read_bytes() == b"\x00garbage" * 100
    assert any("annotated.mp4 unreadable" in n for n in report.notes), report.notes


def test_an_unreadable_raw_video_does_not_cut_the_rest(tmp_path):
    # given a crashed session whose raw video was cut to its first 64 bytes
    folder = crashed(tmp_path / "s", raw=True)
    data = (folder / "raw.mp4").read_bytes()
    (folder / "raw.mp4").write_bytes(data[:64])
    # when it is recovered
    report = recover_session(folder)
    # then the annotated video and the CSV keep their 40 frames
    assert report.frames_kept == 40, report.summary()
    assert count_frames(folder / "annotated.mp4") == 40
    assert len(list(read_rows(folder))) == 80


def test_a_video_shorter_than_the_manifest_proves_is_damaged_not_a_limit(tmp_path):
    # given a crashed session whose manifest says 40 frames were durable in the video,
    # and a video that now holds only 10 of them (damaged after the fact)
    folder = crashed(tmp_path / "s", video_frames_durable=40)
    short = tmp_path / "short.mp4"
    remux(folder / "annotated.mp4", short, max_frames=10)
    short.replace(folder / "annotated.mp4")
    # when it is recovered
    report = recover_session(folder)
    # then the CSV rows of the 40 durable frames stay
    assert len(list(read_rows(folder))) == 80, report.summary()


def test_removed_rows_stay_in_an_orig_file_and_recovering_twice_changes_nothing(tmp_path):
    # given a crashed session whose CSV covers 40 frames and whose video holds 25
    folder = crashed(tmp_path / "s", frames_written=0, video_frames_durable=0)
    original_csv = (folder / "frames.csv").read_bytes()
    short = tmp_path / "short.mp4"
    remux(folder / "annotated.mp4", short, max_frames=25)
    short.replace(folder / "annotated.mp4")
    # when it is recovered
    report = recover_session(folder)
    # then the CSV covers the video's 25 frames and the original rows are kept beside it
    assert report.frames_kept == 25 and report.csv_rows_removed == 30
    assert len(list(read_rows(folder))) == 50
    assert (folder / "frames.csv.orig").read_bytes() == original_csv
    # and recovering again (forced) changes no file
    before = snapshot(folder)
    again = recover_session(folder, force=True)
    assert again.csv_rows_removed == 0 and again.frames_kept == 25
    assert snapshot(folder) == before, "a second recovery changed files"


def test_a_cut_video_keeps_its_original(tmp_path):
    # given a crashed session whose CSV lost its last 15 frames but whose video has all 40
    folder = crashed(tmp_path / "s", frames_written=0, video_frames_durable=0)
    lines = (folder / "frames.csv").read_text().splitlines(keepends=True)
    (folder / "frames.csv").write_text("".join(lines[: 1 + 2 * 25]))
    original_video = (folder / "annotated.mp4").read_bytes()
    # when it is recovered
    report = recover_session(folder)
    # then the video is cut to the CSV's 25 frames and the full one is kept as .orig
    assert report.frames_kept == 25
    assert count_frames(folder / "annotated.mp4") == 25
    assert (folder / "annotated.mp4.orig").read_bytes() == original_video


def test_the_report_travels_as_a_typed_status_event(tmp_path):
    from cer_desktop.contracts import Severity, StatusKind

    folder = crashed(tmp_path / "s", frames_written=0, video_frames_durable=0)
    short = tmp_path / "short.mp4"
    remux(folder / "annotated.mp4", short, max_frames=25)
    short.replace(folder / "annotated.mp4")
    event = recover_session(folder).event()
    assert event.kind is StatusKind.RECOVERY and event.severity is Severity.WARNING
    assert event.payload["csv_rows_removed"] == 30 and event.payload["frames_kept"] == 25


def test_forcing_recovery_on_a_complete_session_changes_nothing(tmp_path):
    rec = SessionRecorder(tmp_path / "s", block=True)
    record(rec, 20)
    rec.close()
    before = snapshot(tmp_path / "s")
    report = recover_session(tmp_path / "s", force=True)
    assert report.frames_kept == 20
    assert snapshot(tmp_path / "s") == before, "forcing recovery of a finished session changed it"
    assert read_manifest(tmp_path / "s")["status"] == "complete"
