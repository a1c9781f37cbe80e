"""`cer-desktop` end to end: the real demo, MediaPipe and the instant recognizer, offscreen."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cer_desktop.gui.app import build_parser


def test_parser_knows_the_documented_options():
    args = build_parser().parse_args(
        [
            "--source",
            "demo",
            "--model",
            "m",
            "--adapter",
            "a",
            "--quant",
            "nf4",
            "--label-set",
            "c_expr",
            "--auto-quit",
            "2",
            "--screenshot",
            "x.png",
        ]
    )
    assert (args.source, args.model, args.adapter, args.quant, args.label_set) == (
        "demo",
        "m",
        "a",
        "nf4",
        "c_expr",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--quant", "fp3"])


@pytest.mark.slow
def test_app_starts_on_the_demo_and_screenshots_a_painted_face(tmp_path):
    importlib.import_module("cer_desktop.capture.sources")
    shot = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CER_DESKTOP_CONFIG_DIR": str(tmp_path / "cfg"),
        "CER_DESKTOP_LOG_DIR": str(tmp_path / "logs"),
    }
    # When the app runs for a few seconds without a camera
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cer_desktop.gui.app",
            "--auto-quit",
            "15",  # generous: on a loaded machine MediaPipe and the first labels take seconds
            "--screenshot",
            str(shot),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it quits cleanly, remembers its settings, and the screenshot shows a painted overlay
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Fatal" not in proc.stderr
    assert (tmp_path / "cfg" / "settings.json").exists()
    # The console stays quiet: MediaPipe's and TensorFlow Lite's native messages go to the log
    for noise in ("XNNPACK", "W0000", "absl::InitializeLog"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    logged = (tmp_path / "logs" / "cer-desktop.log").read_text()
    assert "XNNPACK" in logged, "the native messages should be in the log file"
    image = QImage(str(shot)).convertToFormat(QImage.Format.Format_RGB888)
    assert not image.isNull(), "no screenshot written"
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    a = (
        np.frombuffer(image.constBits(), np.uint8, count=bpl * h)
        .reshape(h, bpl)[:, : w * 3]
        .reshape(h, w, 3)
    )
    # The bar panel's green fill (80, 220, 120) appears only when a face was labelled.
    green = (np.abs(a.astype(int) - [80, 220, 120]).sum(axis=2) < 40).sum()
    assert green > 50, "no probability bars painted: no face labelled in the demo"


@pytest.mark.slow
def test_real_window_on_the_demo_paints_faces_and_leaves_no_thread(qtbot, tmp_path, monkeypatch):
    importlib.import_module("cer_desktop.capture.sources")
    import threading

    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.gui.source_picker import NO_CAMERA_MESSAGE
    from cer_desktop.settings import AppSettings

    monkeypatch.setenv("CER_DESKTOP_CONFIG_DIR", str(tmp_path / "cfg"))
    before = set(threading.enumerate())
    # Given the real window with no camera (real demo, MediaPipe, instant recognizer)
    w = MainWindow(AppSettings(source="auto"), cameras=[], persist=False)
    qtbot.addWidget(w)
    w.show()
    # When it has run for a while
    qtbot.waitUntil(
        lambda: w.session.running and w.session.stats.frames_painted >= 20, timeout=60_000
    )
    qtbot.waitUntil(lambda: w.view.shown >= 10, timeout=30_000)
    stats = w.session.stats
    assert stats.frames_without_face < stats.frames_painted, "the demo face was never found"
    assert stats.recognizer_calls > 0 and stats.recognizer == "instant"
    qtbot.waitUntil(lambda: w.statusBar().currentMessage() == NO_CAMERA_MESSAGE, timeout=5000)
    # Then closing it ends every thread it started
    w.close()
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == [], f"threads left behind: {left}"


def test_record_options_start_a_recording_into_a_folder():
    args = build_parser().parse_args(["--record", "--record-folder", "/tmp/rec"])
    assert args.record is True and args.record_folder == "/tmp/rec"
    assert build_parser().parse_args([]).record is False
