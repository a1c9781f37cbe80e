"""The main window, offscreen, on synthetic sources: frames, overlays, controls, threads."""

from __future__ import annotations

import importlib
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QThread, QThreadPool
from PySide6.QtGui import QImage

from cer_desktop.capture.base import SourceError
from cer_desktop.gui.main_window import MainWindow
from cer_desktop.gui.model_dialog import ModelChoice
from cer_desktop.gui.source_picker import NO_CAMERA_MESSAGE
from cer_desktop.settings import AppSettings, load_settings
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, ListSource, synthetic_frames

FRAMES = synthetic_frames(20)


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cer-") and t.is_alive()]


def qimage_to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


class Sources:
    """A source factory that records the specs asked for; "bad" specs fail like a missing camera."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def __call__(self, spec: str):
        self.specs.append(spec)
        if spec.startswith("camera:9"):
            raise SourceError(f"camera {spec} does not exist")
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, description=spec)


@pytest.fixture
def make_window(qtbot):
    made: list[MainWindow] = []

    def make(settings: AppSettings | None = None, cameras=None, **kw) -> MainWindow:
        kw.setdefault("source_factory", Sources())
        kw.setdefault("analyzer_factory", lambda n, crop: FakeAnalyzer())
        kw.setdefault("recognizer", FixedRecognizer(top="Happily Surprised", name="fixed"))
        w = MainWindow(
            settings or AppSettings(source="demo"), cameras=[] if cameras is None else cameras, **kw
        )
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


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


class SlowFactory:
    """A create_recognizer stand-in: waits for `go`, or fails with `error`."""

    def __init__(self, error: str | None = None) -> None:
        self.go = threading.Event()
        self.error = error
        self.made: list[FixedRecognizer] = []

    def __call__(self, spec, *, progress=None, cancel=None):
        if progress:
            progress("loading weights", 0.5)
        if self.error:
            raise FileNotFoundError(self.error)
        self.go.wait(10)
        r = FixedRecognizer(top="Sadly Angry", name="lvlm")
        self.made.append(r)
        return r


def test_model_loads_in_background_and_is_remembered(make_window, qtbot, monkeypatch):
    factory = SlowFactory()
    w = make_window(recognizer_factory=factory)
    monkeypatch.setattr(ModelChoice, "spec", lambda self: self)  # no ModelSpec validation needed
    loader = w.load_model(ModelChoice("some/model", "", "nf4", 0.3))
    assert loader is not None and w.models.progress is not None
    # The GUI keeps painting while the model loads
    shown = w.view.shown
    qtbot.waitUntil(lambda: w.view.shown > shown + 2, timeout=5000)
    factory.go.set()
    qtbot.waitUntil(lambda: w.recognizer is not None and w.recognizer.name == "lvlm", timeout=5000)
    loader.join(5)
    assert w.settings.model_base == "some/model" and w.settings.model_quant == "nf4"
    assert load_settings().model_base == "some/model", "the model choice must be remembered"
    qtbot.waitUntil(lambda: w.session.stats.recognizer == "lvlm", timeout=5000)


def test_cancel_returns_at_once_and_discards_the_result(make_window, qtbot, monkeypatch):
    factory = SlowFactory()
    first = FixedRecognizer(name="first")
    w = make_window(recognizer=first, recognizer_factory=factory)
    monkeypatch.setattr(ModelChoice, "spec", lambda self: self)
    loader = w.load_model(ModelChoice("some/model"))
    t0 = time.monotonic()
    w.models.cancel()
    assert time.monotonic() - t0 < 0.5, "cancel must not wait for the load"
    factory.go.set()
    loader.join(5)
    assert not loader.worker_thread.is_alive()
    assert isinstance(loader.thread(), QThread), "QObject.thread() must stay Qt's own"
    qtbot.wait(100)  # let any queued signal arrive
    assert w.recognizer is first, "a cancelled load must not replace the recognizer"
    assert factory.made and factory.made[0].closed, "the late result must be closed"
    assert w.settings.model_base == ""


def test_failed_load_shows_a_message_and_keeps_the_recognizer(make_window, qtbot, monkeypatch):
    factory = SlowFactory(error="model some/missing is not in the local cache")
    first = FixedRecognizer(name="first")
    w = make_window(recognizer=first, recognizer_factory=factory)
    monkeypatch.setattr(ModelChoice, "spec", lambda self: self)
    w.load_model(ModelChoice("some/missing"))
    qtbot.waitUntil(lambda: "Could not load" in w.statusBar().currentMessage(), timeout=5000)
    assert w.recognizer is first
    boxes = [c for c in w.findChildren(object) if c.objectName() == "modelErrorBox"]
    assert boxes and "not in the local cache" in boxes[0].text()
    shown = w.view.shown
    qtbot.waitUntil(lambda: w.view.shown > shown + 2, timeout=5000)


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


def test_model_dialog_round_trip(qtbot):
    from cer_desktop.gui.model_dialog import ModelDialog

    d = ModelDialog(ModelChoice("base/id", "/adapters/x", "nf4", 0.4))
    qtbot.addWidget(d)
    assert d.choice() == ModelChoice("base/id", "/adapters/x", "nf4", 0.4)
    d.quant.setCurrentText("int8")
    d.threshold.setValue(0.25)
    assert d.choice().quant == "int8" and d.choice().threshold == pytest.approx(0.25)
    d.use_instant.click()
    assert d.choice().base == "" and d.result() == ModelDialog.DialogCode.Accepted
    assert d.choice().spec() is None, "an empty base means the instant recognizer"


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    tiny = importlib.import_module("cer_desktop.testing.tiny_models")
    return tiny.build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny") / "qwen")


@pytest.mark.slow
def test_a_real_tiny_model_loads_through_the_factory_and_runs_live(make_window, qtbot, tiny_qwen):
    importlib.import_module("cer_desktop.recognition.factory")
    # Given the window running on the instant tier (the default recognizer)
    w = make_window(recognizer=FixedRecognizer(name="instant"))
    # When the user picks a local tiny Qwen2-VL folder
    w.load_model(ModelChoice(str(tiny_qwen), "", "none", 0.0))
    qtbot.waitUntil(lambda: w.models.loader is None, timeout=120_000)
    # Then the LVLM recognizer runs in the live worker and the choice is remembered
    assert "Model ready" in w.statusBar().currentMessage(), w.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: w.session.stats.recognizer_calls > 0 and w.session.stats.recognizer == "lvlm",
        timeout=60_000,
    )
    assert load_settings().model_base == str(tiny_qwen)


@pytest.mark.slow
def test_a_missing_model_folder_gives_a_clear_message(make_window, qtbot, tmp_path):
    importlib.import_module("cer_desktop.recognition.factory")
    w = make_window(recognizer=FixedRecognizer(name="instant"))
    w.load_model(ModelChoice(str(tmp_path / "no-such-model")))
    qtbot.waitUntil(lambda: w.models.loader is None, timeout=60_000)
    boxes = [c for c in w.findChildren(object) if c.objectName() == "modelErrorBox"]
    assert boxes, "no error message shown"
    assert "no-such-model" in boxes[0].text()
    assert w.recognizer.name == "instant", "the app keeps running on the instant tier"


def test_camera_that_fails_to_open_falls_back_to_the_demo(make_window, qtbot):
    from cer_desktop.capture.base import SourceError

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


def test_analyzer_crops_at_the_models_size(make_window, qtbot, monkeypatch):
    # Given an analyzer factory that remembers the crop sizes asked for
    crops: list[int] = []

    class SizedAnalyzer(FakeAnalyzer):
        def __init__(self, crop):
            super().__init__()
            self.crop_size = crop
            self.max_faces = 4

    def analyzers(n, crop):
        crops.append(crop)
        return SizedAnalyzer(crop)

    class Model112(FixedRecognizer):
        crop_size = 112

    def factory(spec, *, progress=None, cancel=None):
        return Model112(name="lvlm")

    w = make_window(analyzer_factory=analyzers, recognizer_factory=factory)
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    monkeypatch.setattr(ModelChoice, "spec", lambda self: self)
    # When a model trained on 112-pixel crops is loaded
    w.load_model(ModelChoice("m112"))
    qtbot.waitUntil(lambda: w.recognizer.name == "lvlm", timeout=5000)
    # Then the pipeline restarts with an analyzer that crops at 112
    assert crops == [224, 112], crops
    qtbot.waitUntil(
        lambda: w.session.running and w.session.stats.recognizer == "lvlm", timeout=5000
    )


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


def test_the_side_panel_shows_the_face_beside_the_video(make_window, qtbot):
    # Given the window on a synthetic source with a fixed recognizer
    w = make_window()
    # Then the panel beside the video names the label, shows bars and draws the timeline
    qtbot.waitUntil(lambda: w.face_panel.bars[0][0].text() == "Happily Surprised", timeout=5000)
    assert w.face_dock.isVisible() and w.face_panel.bars[0][1].value() == 80

    def drawn() -> int:
        xs, _ = w.face_panel.curves["Happily Surprised"].getData()
        return 0 if xs is None else len(xs)

    qtbot.waitUntil(lambda: drawn() > 3, timeout=5000)
    assert w.face_panel.freshness_label.text(), "the label's age is shown"


def test_the_menu_bar_lists_every_action_with_its_shortcut(make_window):
    from PySide6.QtWidgets import QMenu

    w = make_window(autostart=False)
    menus = {m.objectName(): m for m in w.menuBar().findChildren(QMenu)}
    assert {"fileMenu", "sessionMenu", "modelMenu", "viewMenu", "helpMenu"} <= set(menus)
    in_menus = {a for m in menus.values() for a in m.actions()}
    for tb_action in (w.record_action, w.marker_action, w.baseline_action, w.model_action):
        assert tb_action in in_menus, f"{tb_action.text()} is missing from the menus"
    shortcuts = {a.text(): a.shortcut().toString() for a in in_menus if not a.shortcut().isEmpty()}
    assert shortcuts["● Record"] == "Ctrl+R" and shortcuts["Full screen"] == "F11"
    assert len(set(shortcuts.values())) == len(shortcuts), f"a shortcut is used twice: {shortcuts}"


def test_dropping_a_video_on_the_window_uses_it_as_the_source(make_window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    clip = tmp_path / "dropped.mp4"
    clip.write_bytes(b"the fake factory never reads it")
    sources = Sources()
    w = make_window(source_factory=sources)
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    w.dropEvent(event)
    assert w.source_spec == str(clip) and sources.specs[-1] == str(clip)
    assert w.settings.recent_files[0] == str(clip)


def test_about_names_the_versions_and_the_model(make_window):
    from PySide6.QtWidgets import QMessageBox

    w = make_window(autostart=False)
    w.controls.about_action.trigger()
    (box,) = [b for b in w.findChildren(QMessageBox) if b.objectName() == "aboutBox"]
    assert "PySide6" in box.text() and "fixed" in box.text() and "Python" in box.text()
    box.close()


def test_the_window_layout_is_remembered(make_window, qtbot, config_dir):
    # Given a window the user resized and whose face panel they closed
    w = make_window(autostart=False)
    w.resize(700, 500)  # inside the offscreen screen (800x600): restoreGeometry keeps windows on it
    w.face_dock.hide()
    w.close()
    # When the app starts again with the saved settings
    again = make_window(load_settings(), autostart=False)
    # Then the size and the hidden panel come back
    assert again.settings.window_state and again.settings.window_geometry
    assert (again.width(), again.height()) == (700, 500)
    assert not again.face_dock.isVisible()
