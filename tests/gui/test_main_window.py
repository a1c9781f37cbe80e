"""The main window, offscreen, on synthetic sources: frames, overlays, controls, threads."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool
from window_harness import FRAMES, Sources, pipeline_threads, qimage_to_array

from cer_desktop.capture.base import SourceError
from cer_desktop.gui.source_picker import NO_CAMERA_MESSAGE
from cer_desktop.settings import AppSettings, load_settings
from cer_desktop.testing.fakes import FixedRecognizer, ListSource


def test_window_shows_painted_frames(make_window, qtbot):
    # Given the window on a synthetic live source
    w = make_window()
    # When frames flow
    # (not qtbot.waitSignal on frameReady: it is emitted from the display thread, and
    # pytest-qt's blocker slot would run there, racing its own teardown)
    qtbot.waitUntil(lambda: w.view.shown >= 5, timeout=5000)
    # Then the view holds a pixmap that differs from the raw frame inside the face box
    pix = w.view.pixmap()
    assert pix is not None and not pix.isNull()
    shown = qimage_to_array(pix.toImage())
    assert shown.shape == (480, 640, 3)
    raw = FRAMES[w.view.last_frame_id % len(FRAMES)]
    x, y, bw, bh = 200, 140, 220, 220  # FakeAnalyzer's default box
    region = np.abs(
        shown[y - 30 : y + bh + 60, x : x + bw].astype(int) - raw[y - 30 : y + bh + 60, x : x + bw]
    )
    assert (region > 40).mean() > 0.01, "no overlay painted around the face box"
    assert w.session.running and w.session.stats.frames_displayed >= 5


def test_no_camera_starts_on_demo_and_says_so(make_window, qtbot):
    sources = Sources()
    w = make_window(AppSettings(source="auto"), cameras=[], source_factory=sources)
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    assert sources.specs == ["demo"]
    assert w.statusBar().currentMessage() == NO_CAMERA_MESSAGE


def test_missing_camera_falls_back_to_demo_with_a_message(make_window, qtbot):
    sources = Sources()
    w = make_window(
        AppSettings(source="camera:9"), cameras=[("Camera 9", "camera:9")], source_factory=sources
    )
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    assert sources.specs == ["camera:9", "demo"]
    assert "camera:9" in w.statusBar().currentMessage()
    assert w.source_spec == "demo"


def test_start_stop_and_threads_end(make_window, qtbot):
    w = make_window()
    qtbot.waitUntil(lambda: w.view.shown >= 2, timeout=5000)
    assert pipeline_threads(), "a running pipeline should have its threads"
    # When stopped
    w.start_button.click()
    assert not w.session.running and w.start_button.text() == "Start"
    # the recognizer worker ends after its call by itself (Stop does not wait for it)
    qtbot.waitUntil(lambda: pipeline_threads() == [], timeout=5000)
    shown = w.view.shown
    # When started again
    w.start_button.click()
    qtbot.waitUntil(lambda: w.view.shown >= shown + 2, timeout=5000)
    assert w.start_button.text() == "Stop"


def test_stop_does_not_wait_for_a_slow_recognizer_call(make_window, qtbot):
    from cer_desktop.testing.fakes import GatedRecognizer

    # Given a recognizer call in progress that only ends when the test lets it go
    gated = GatedRecognizer(top="Happily Surprised", name="lvlm")
    w = make_window(recognizer=gated)
    qtbot.waitUntil(gated.started.is_set, timeout=5000)
    stopped = w.session._pipeline
    # When the user clicks Stop, then the window stops at once, the call still running
    w.start_button.click()
    assert not w.session.running and w.start_button.text() == "Start"
    assert stopped._worker.alive, "the recognizer call should still be in progress"
    # When the user starts again before the call ends, then Start first waits for it, so the
    # recognizer never serves two calls at once
    timer = threading.Timer(0.3, gated.release)
    timer.start()
    gated.started.clear()
    w.start_button.click()
    assert not stopped._worker.alive, "the stopped pipeline's call should have ended first"
    assert w.session.running and w.start_button.text() == "Stop"
    qtbot.waitUntil(gated.started.is_set, timeout=5000)  # the new pipeline calls it
    gated.gated = False
    gated.release(10)
    timer.join()


def test_closing_waits_for_the_call_of_a_stopped_pipeline(make_window, qtbot):
    from cer_desktop.testing.fakes import GatedRecognizer

    gated = GatedRecognizer(name="lvlm")
    w = make_window(recognizer=gated)
    qtbot.waitUntil(gated.started.is_set, timeout=5000)
    w.start_button.click()  # stopped while the call runs
    # When the window closes (the recognizer is closed then), the call is let go and waited for
    timer = threading.Timer(0.3, gated.release)
    timer.start()
    w.close()
    timer.join()
    assert pipeline_threads() == [], f"threads left running: {pipeline_threads()}"


def test_controls_reach_the_pipeline_and_settings_persist(make_window, qtbot, config_dir):
    w = make_window()
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    # When the user picks a label set, smoothing and max faces
    w.label_combo.setCurrentIndex(w.label_combo.findData("raf_basic"))
    w.smoothing_slider.setValue(80)
    w.aus_check.setChecked(True)
    assert w.session._pipeline.label_set.name == "raf_basic"
    assert w.session._pipeline.smoothing == pytest.approx(0.8)
    assert w.session._pipeline.show_aus is True
    w.close()
    # Then the settings file remembers them
    saved = load_settings()
    assert (config_dir / "settings.json").exists()
    assert saved.label_set == "raf_basic"
    assert saved.smoothing == pytest.approx(0.8)
    assert saved.show_aus is True


def test_close_leaves_no_thread_behind(make_window, qtbot):
    w = make_window()
    qtbot.waitUntil(lambda: w.view.shown >= 2, timeout=5000)
    w.close()
    assert pipeline_threads() == [], f"threads left running: {pipeline_threads()}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0


def test_recognizer_error_falls_back_and_window_keeps_running(make_window, qtbot):
    from cer_desktop.testing.fakes import FailingRecognizer

    w = make_window(recognizer=FailingRecognizer("CUDA out of memory", name="lvlm"))
    qtbot.waitUntil(lambda: "CUDA out of memory" in w.statusBar().currentMessage(), timeout=5000)
    shown = w.view.shown
    qtbot.waitUntil(lambda: w.view.shown > shown + 3, timeout=5000)
    assert w.session.stats.fallback_calls > 0, "the instant fallback should have answered"


def test_record_button_records_a_session(make_window, qtbot, tmp_path):
    importlib.import_module("cer_desktop.recording.recorder")
    w = make_window(AppSettings(source="demo", record_folder=str(tmp_path / "rec")))
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    # When the user presses Record (Ctrl+R's action) and, a bit later, again
    w.record_action.trigger()
    assert w.recording and w.rec_label.text().startswith("● REC")
    qtbot.wait(400)
    w.record_action.trigger()
    # Then a session folder with a manifest and a video exists
    assert not w.recording and w.rec_label.text() == ""
    sessions = list((tmp_path / "rec").iterdir())
    assert len(sessions) == 1
    assert (sessions[0] / "manifest.json").exists()
    assert (sessions[0] / "annotated.mp4").stat().st_size > 0
    assert "Recorded" in w.statusBar().currentMessage()


def test_camera_gone_stops_cleanly_with_a_message(make_window, qtbot):
    # Given a camera that stops delivering after 10 frames
    def factory(spec):
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, fail_at=10, description=spec)

    w = make_window(source_factory=factory)
    # Then the window says so, tidies up the pipeline and keeps running
    qtbot.waitUntil(lambda: "stopped delivering" in w.statusBar().currentMessage(), timeout=5000)
    qtbot.waitUntil(lambda: not w.session.running, timeout=5000)
    qtbot.waitUntil(lambda: w.start_button.text() == "Start", timeout=5000)
    assert w.start_button.text() == "Start"
    # the recognizer's last call and the session's tidying task end by themselves
    qtbot.waitUntil(lambda: pipeline_threads() == [], timeout=5000)
    assert w.isVisible()


def test_camera_that_fails_to_open_falls_back_to_the_demo(make_window, qtbot):

    class DeadCamera(ListSource):
        def _open(self):
            raise SourceError("camera 3 could not be opened")

    specs: list[str] = []

    def factory(spec):
        specs.append(spec)
        if spec == "camera:3":
            return DeadCamera([], description=spec)
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, description=spec)

    w = make_window(
        AppSettings(source="camera:3"), cameras=[("Camera 3", "camera:3")], source_factory=factory
    )
    qtbot.waitUntil(lambda: w.source_spec == "demo" and w.view.shown >= 2, timeout=5000)
    assert specs == ["camera:3", "demo"]
    message = w.statusBar().currentMessage()
    assert "camera:3" in message and "could not be opened" in message, message


def test_choosing_a_video_file_opens_it_and_remembers_it(make_window, qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")  # the fake factory never reads it
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(video), ""))
    )
    sources = Sources()
    w = make_window(source_factory=sources)
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    # When the user picks "Video file…"
    w._on_source_activated(w.source_combo.findData("__file__"))
    # Then that file is the source, it is started, and it is remembered
    assert w.source_spec == str(video)
    qtbot.waitUntil(lambda: sources.specs[-1] == str(video), timeout=5000)
    saved = load_settings()
    assert saved.source == str(video) and saved.recent_files == [str(video)]


def test_reset_neutral_reaches_the_recognizer(make_window, qtbot):
    class Baselined(FixedRecognizer):
        resets = 0

        def reset_baseline(self, track_id=None):
            type(self).resets += 1

    w = make_window(recognizer=Baselined(name="instant"))
    w.baseline_action.trigger()
    assert Baselined.resets == 1
    assert "baseline reset" in w.statusBar().currentMessage()


def test_an_interrupted_session_is_recovered_when_the_app_starts(make_window, qtbot, tmp_path):
    importlib.import_module("cer_desktop.recording.recover")
    import json

    # Given a record folder holding a session whose recorder died mid-recording
    rec_root = tmp_path / "rec"
    w = make_window(AppSettings(source="demo", record_folder=str(rec_root)))
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    w.record_action.trigger()
    qtbot.wait(400)
    w.record_action.trigger()
    (session,) = list(rec_root.iterdir())
    manifest_path = session / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(status="recording", pid=2**22 + 12345)  # a pid no process has
    manifest_path.write_text(json.dumps(manifest))
    # When the app looks for unfinished sessions (as it does on start)
    w.recover_unfinished_sessions()
    # Then the session is repaired off the GUI thread and the user is told
    qtbot.waitUntil(lambda: "Recovered" in w.statusBar().currentMessage(), timeout=20000)
    assert json.loads(manifest_path.read_text())["status"] == "recovered"
