"""A camera lost mid-recording: the user is told, the recording logs the gap, frames resume."""

from __future__ import annotations

import time

import numpy as np

from cer_desktop.capture.camera import CameraSource
from cer_desktop.contracts import StatusKind
from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.pipeline.stats import EndReason
from cer_desktop.recording.events import read_events
from cer_desktop.recording.recorder import SessionRecorder
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, FlakyCapture


def test_a_lost_camera_is_reported_logged_and_reconnected_while_recording(tmp_path):
    # given a live recording from a camera that is unplugged after 15 frames for 0.8 s
    capture = FlakyCapture(np.full((120, 160, 3), 80, np.uint8), fail_after=15, gone_s=0.8)
    source = CameraSource(
        0,
        capture_factory=capture,
        max_failures=3,
        stall_timeout=0.3,
        reconnect_interval=0.2,
        reconnect_timeout=0.2,
    )
    events = []
    recorder = SessionRecorder(tmp_path / "s", fps=30)
    p = Pipeline(
        source,
        FakeAnalyzer(boxes=((20, 20, 60, 60),)),
        FixedRecognizer(),
        RAF_BASIC,
        sinks=[recorder],
        on_status=events.append,
    )
    # when it runs until the camera is back and delivers again
    p.start()
    deadline = time.monotonic() + 20
    kinds = lambda: [e.kind for e in events]  # noqa: E731
    while time.monotonic() < deadline and StatusKind.SOURCE_RESTORED not in kinds():
        time.sleep(0.05)
    captured_at_return = p.stats.frames_captured
    time.sleep(0.5)
    running = p.running
    stats = p.stats
    p.stop()
    recorder.close()
    # then the user was told (lost, then back), the loop never ended, frames came again
    assert StatusKind.SOURCE_LOST in kinds() and StatusKind.SOURCE_RESTORED in kinds(), kinds()
    assert kinds().index(StatusKind.SOURCE_LOST) < kinds().index(StatusKind.SOURCE_RESTORED)
    assert running, "the pipeline stopped instead of waiting for the camera"
    assert stats.frames_captured > captured_at_return, "no frame after the camera came back"
    assert source.reconnects == 1 and stats.end_reason is EndReason.RUNNING
    # and the recording logged the gap and is complete, every written frame in the video
    logged = [e["type"] for e in read_events(tmp_path / "s" / "events.jsonl")]
    assert "source_lost" in logged and "source_restored" in logged, logged
    restored = next(
        e for e in read_events(tmp_path / "s" / "events.jsonl") if e["type"] == "source_restored"
    )
    assert restored["gap_s"] >= 0.5
    m = read_manifest(tmp_path / "s")
    assert m["status"] == "complete" and m["frames_dropped"] == 0
    assert count_frames(tmp_path / "s" / "annotated.mp4") == m["frames_written"]
