"""The window's newer parts: the face panel, the menu bar, drag and drop, About, the
remembered layout (offscreen, on synthetic sources)."""

from __future__ import annotations

from window_harness import Sources

from cer_desktop.settings import load_settings


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


def test_changing_faces_while_recording_keeps_the_recording(make_window, qtbot, tmp_path):
    import importlib

    from cer_desktop.settings import AppSettings
    from cer_desktop.testing.fakes import FakeAnalyzer

    importlib.import_module("cer_desktop.recording.recorder")

    def analyzers(n, crop):
        if n == 6:
            raise RuntimeError("no graph for 6 faces")
        return FakeAnalyzer()

    w = make_window(
        AppSettings(source="demo", record_folder=str(tmp_path / "rec")),
        analyzer_factory=analyzers,
    )
    qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
    w.record_action.trigger()
    folder = w.session.recording.folder
    assert folder is not None
    qtbot.wait(300)
    # When the user changes Faces while recording
    w.max_faces_spin.setValue(2)
    # Then the recording goes on in the same folder and the status bar says so
    qtbot.waitUntil(lambda: "recording continues" in w.statusBar().currentMessage(), timeout=5000)
    assert w.recording and w.session.recording.folder == folder
    # And a value whose analyzer cannot be built is refused: the control shows the old one
    w.max_faces_spin.setValue(6)
    qtbot.waitUntil(lambda: "Cannot apply Faces: 6" in w.statusBar().currentMessage(), timeout=5000)
    assert w.max_faces_spin.value() == 2 and w.settings.max_faces == 2 and w.recording
    w.record_action.trigger()
    assert not w.recording
