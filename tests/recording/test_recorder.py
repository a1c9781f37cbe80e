"""SessionRecorder: every submitted frame in the video and the CSV, drops counted, disk errors."""

from __future__ import annotations

import csv
import errno
import json
import threading

import pytest
from rec_synthetic import make_annotation, record
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.contracts import StatusEvent, StatusKind
from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.recording import recorder as recorder_mod
from cer_desktop.recording.csvlog import AU_COLUMNS, list_parts, read_rows
from cer_desktop.recording.events import read_events
from cer_desktop.recording.recorder import RecordingError, SessionRecorder
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames, frame_times

N_FRAMES = 300


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A finished offline recording of 300 synthetic frames with 2 faces, raw video too."""
    folder = tmp_path_factory.mktemp("rec") / "s1"
    rec = SessionRecorder(
        folder, record_raw=True, fps=30, block=True, manifest_extra={"model": "fake-model"}
    )
    accepted = record(rec, N_FRAMES)
    rec.add_marker("smile starts")
    rec.close()
    return folder, rec, accepted


def disk_full_after(monkeypatch, frames: int) -> None:
    """Make every video write after the first `frames` fail as a full disk does."""
    real_write = recorder_mod.VideoWriter.write
    calls = {"n": 0}

    def write(self, image, t):
        calls["n"] += 1
        if calls["n"] > frames:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, image, t)

    monkeypatch.setattr(recorder_mod.VideoWriter, "write", write)


def test_video_has_every_submitted_frame(session):
    # given a recording of 300 frames, when the videos are decoded
    folder, rec, accepted = session
    # then both hold exactly the frames submitted
    assert accepted == N_FRAMES
    assert count_frames(folder / "annotated.mp4") == N_FRAMES
    assert count_frames(folder / "raw.mp4") == N_FRAMES
    assert rec.frames_written == N_FRAMES and rec.frames_dropped == 0


def test_video_time_stamps_follow_capture_time(session):
    folder, _, _ = session
    times = frame_times(folder / "annotated.mp4")
    # frame i was captured at i/30 s after the first one
    worst = max(abs(t - i / 30) for i, t in enumerate(times))
    assert worst < 0.002, f"video time stamps deviate from capture time by up to {worst:.4f} s"


def test_csv_has_one_row_per_face_per_frame(session):
    folder, _, _ = session
    rows = list(read_rows(folder))
    assert len(rows) == 2 * N_FRAMES, "2 faces x 300 frames"
    first = rows[0]
    # the per-frame CSV columns (docs/architecture.md), every label's probability and the OpenFace AU columns
    for col in ("frame", "t", "wall_time", "face_id", "x", "y", "w", "h", "label_set", "label"):
        assert col in first
    for label in RAF_BASIC.labels:
        assert f"p_{label}" in first
    for col in (*AU_COLUMNS, "recognizer", "latency_ms", "fresh"):
        assert col in first
    assert first["AU12_r"] == "1.5000" and first["AU01_r"] == "0.2500", "AU names normalised"
    assert first["label"] == "Surprise" and first["label_set"] == "raf_basic"
    assert {r["fresh"] for r in rows} == {"0", "1"}
    assert rows[-1]["frame"] == str(N_FRAMES - 1)
    assert abs(float(rows[-1]["t"]) - (N_FRAMES - 1) / 30) < 1e-3


def test_manifest_is_complete(session):
    folder, _, _ = session
    m = read_manifest(folder)
    assert m["status"] == "complete"
    assert m["frames_written"] == N_FRAMES and m["frames_dropped"] == 0
    assert m["csv_rows"] == 2 * N_FRAMES
    assert m["model"] == "fake-model" and m["label_set"] == "raf_basic"
    assert m["source"] == "synthetic" and m["frame_size"] == [160, 120]
    assert m["ended_at"] and m["started_at"]


def test_marker_is_logged_with_its_note(session):
    folder, _, _ = session
    markers = [e for e in read_events(folder / "events.jsonl") if e["type"] == "marker"]
    assert len(markers) == 1 and markers[0]["note"] == "smile starts"
    assert markers[0]["frame"] == N_FRAMES - 1


def test_label_set_change_starts_a_new_csv_part(tmp_path):
    rec = SessionRecorder(tmp_path / "s", block=True)
    record(rec, 10)
    record(rec, 10, start=10, label_set=RAF_COMPOUND)
    rec.close()
    parts = list_parts(tmp_path / "s")
    assert [p.name for p in parts] == ["frames.csv", "frames.part2.csv"]
    with open(parts[1], newline="") as f:
        header = next(csv.reader(f))
    assert "p_Happily Surprised" in header and "p_Surprise" not in header
    assert read_manifest(tmp_path / "s")["label_sets"] == ["raf_basic", "raf_compound"]


def test_full_queue_drops_and_counts_without_waiting(tmp_path, monkeypatch):
    # given a writer stuck on its first frame and a queue of one
    release = threading.Event()
    real_write = recorder_mod.VideoWriter.write

    def stuck_write(self, image, t):
        release.wait(5)
        real_write(self, image, t)

    monkeypatch.setattr(recorder_mod.VideoWriter, "write", stuck_write)
    rec = SessionRecorder(tmp_path / "s", queue_size=1)
    # when 6 frames are submitted live
    accepted = record(rec, 6)
    release.set()
    rec.close()
    # then at most 2 got through (one in the writer, one queued), the rest were counted
    assert accepted <= 2
    assert rec.frames_dropped == 6 - accepted
    m = read_manifest(tmp_path / "s")
    assert m["drop_reasons"] == {"queue_full": 6 - accepted}
    assert m["frames_written"] == accepted == count_frames(tmp_path / "s" / "annotated.mp4")


def test_disk_full_stops_cleanly_and_keeps_what_was_written(tmp_path, monkeypatch):
    # given a disk that fills up after 40 frames
    disk_full_after(monkeypatch, 40)
    errors: list[StatusEvent] = []
    rec = SessionRecorder(tmp_path / "s", block=True, on_error=errors.append)
    record(rec, 60)
    rec.close()
    # then the recorder says why, refuses further frames, and the files stay readable
    assert rec.error and "disk full" in rec.error, rec.error
    assert [e.message for e in errors] == [rec.error]
    # and says it typed: code branches on the kind and the reason, not on the words
    assert errors[0].kind is StatusKind.RECORDING_FAILED and errors[0].is_error
    assert errors[0].payload["reason"] == "disk_full" and rec.error_event is errors[0]
    ann, painted = make_annotation(99)
    assert rec.submit(ann, painted) is False
    assert count_frames(tmp_path / "s" / "annotated.mp4") == 40
    rows = list(read_rows(tmp_path / "s"))
    assert len(rows) == 2 * 40, "the CSV holds the frames written before the failure"
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["status"] == "failed" and "disk full" in m["error"]
    assert m["frames_written"] == 40 and m["drop_reasons"].get("write_error", 0) >= 1


def test_unwritable_folder_is_a_named_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RecordingError, match="cannot|failed|disappeared"):
        SessionRecorder(blocker / "session")


def test_folder_with_a_session_is_refused(session):
    folder, _, _ = session
    with pytest.raises(RecordingError, match="already holds"):
        SessionRecorder(folder)


def test_frames_without_faces_are_in_the_video_only(tmp_path):
    rec = SessionRecorder(tmp_path / "s", block=True)
    record(rec, 20, n_faces=0)
    rec.close()
    assert count_frames(tmp_path / "s" / "annotated.mp4") == 20
    assert list(read_rows(tmp_path / "s")) == []


def test_csv_cut_by_a_full_disk_still_ends_at_a_whole_row(tmp_path, monkeypatch):
    # given a disk with room for 700 bytes of CSV
    import io

    from cer_desktop.recording import csvlog

    class FillingFile(io.FileIO):
        budget = 700

        def write(self, b):
            if FillingFile.budget <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            n = min(len(b), FillingFile.budget)
            FillingFile.budget -= n
            return super().write(bytes(b[:n]))

    monkeypatch.setattr(csvlog, "_FileIO", FillingFile)
    rec = SessionRecorder(tmp_path / "s", block=True)
    record(rec, 30)
    rec.close()
    # then the recording stopped with a message and the CSV holds only whole rows
    assert rec.error and "disk full" in rec.error
    data = (tmp_path / "s" / "frames.csv").read_bytes()
    assert len(data) <= 700
    assert data.endswith(b"\n"), "a half row was left at the end"
    header, *rows = data.decode().splitlines()
    assert rows and all(r.count(",") == header.count(",") for r in rows)


def test_annotated_video_holds_the_painted_pixels_and_raw_the_camera_frame(session):
    import av

    folder, _, _ = session

    def first_frame(name):
        with av.open(str(folder / name)) as c:
            return next(c.decode(video=0)).to_ndarray(format="rgb24")

    painted, raw = first_frame("annotated.mp4"), first_frame("raw.mp4")
    # the synthetic painter drew a white band over the top rows; the raw frame is dark there
    assert painted[:3].mean() > 200, "the annotated video is not the painted frame"
    assert raw[:3].mean() < 80, "the raw video is not the camera frame"


def test_frames_lost_to_a_disk_error_are_counted_once(tmp_path, monkeypatch):
    # given a disk that fills up after 40 of 60 frames
    disk_full_after(monkeypatch, 40)
    rec = SessionRecorder(tmp_path / "s", queue_size=100)
    # when 60 frames are submitted at once (all queued before the writer fails)
    accepted = record(rec, 60)
    rec.close()
    # then submitted = written + dropped = the frames the pipeline handed over, not more
    m = read_manifest(tmp_path / "s")
    assert m["frames_written"] == 40
    assert accepted == 60, "the writer failed before the frames were queued"
    assert rec.frames_submitted == m["frames_submitted"] == 60
    assert rec.frames_dropped == m["frames_dropped"] == 20
    assert m["drop_reasons"] == {"write_error": 20}
    assert m["frames_written"] + m["frames_dropped"] == m["frames_submitted"]
