"""macOS' denied camera permission reaches the window as a message saying where to allow it."""

from __future__ import annotations

from window_harness import FakeAnalyzer, Sources

from cer_desktop.capture.camera_list import MAC_PERMISSION_HINT
from cer_desktop.gui import main_window
from cer_desktop.gui.main_window import MainWindow
from cer_desktop.settings import AppSettings
from cer_desktop.testing.fakes import FixedRecognizer


def test_a_denied_camera_permission_is_said_not_an_empty_list(qtbot, monkeypatch):
    monkeypatch.setattr(main_window, "camera_specs_with_problem", lambda: ([], MAC_PERMISSION_HINT))
    sources = Sources()
    w = MainWindow(
        AppSettings(source="auto"),
        source_factory=sources,
        analyzer_factory=lambda n, crop: FakeAnalyzer(),
        recognizer=FixedRecognizer(top="Happily Surprised", name="fixed"),
    )
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.view.shown >= 1, timeout=5000)
        assert sources.specs == ["demo"]
        message = w.statusBar().currentMessage()
        assert "System Settings > Privacy & Security > Camera" in message
    finally:
        w.shutdown()
