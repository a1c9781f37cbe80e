"""Take the README's screenshots from a real window (run under Xvfb):

    xvfb-run -a -s "-screen 0 1400x860x24" python scripts/readme_screenshots.py assets

The window runs on the built-in demo with the instant recognizer (real MediaPipe), records a
few seconds so the sessions browser has something to list, and grabs the screen
(`QScreen.grabWindow(0)`, what a user would see) as small JPEGs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main(out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cer-shots-"))
    os.environ["CER_DESKTOP_CONFIG_DIR"] = str(tmp / "cfg")
    os.environ["CER_DESKTOP_LOG_DIR"] = str(tmp / "logs")
    from cer_desktop.gui.app import prepare_qt_environment

    problem = prepare_qt_environment()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.settings import AppSettings

    app = QApplication(sys.argv[:1])
    settings = AppSettings(source="demo", record_folder=str(tmp / "rec"), max_faces=2)
    w = MainWindow(settings, cameras=[], persist=False)
    w.resize(1360, 800)
    w.move(10, 10)
    w.show()
    shots: list[Path] = []

    def grab(name: str) -> None:
        path = out / name
        screen = app.primaryScreen()
        pixmap = screen.grabWindow(0).copy(0, 0, 1380, 830)
        pixmap.save(str(path), "JPEG", 72)
        shots.append(path)

    browser: list[object] = []

    def step(i: int) -> None:
        if i == 0:
            w.start_recording()
        elif i == 1:
            w.recorder.stop()
            grab("screenshot.jpg")
        elif i == 2:
            browser.append(w.open_sessions())
            b = browser[0]
            b.resize(900, 420)  # type: ignore[attr-defined]
            b.move(240, 200)  # type: ignore[attr-defined]
            b.table.selectRow(0)  # type: ignore[attr-defined]
            player = b.play()  # type: ignore[attr-defined]
            player.resize(1100, 420)
            player.move(140, 380)
        elif i == 3:
            grab("sessions.jpg")
            browser[0].close()  # type: ignore[attr-defined]
            app.quit()
            return
        QTimer.singleShot(6000 if i != 2 else 8000, lambda: step(i + 1))

    QTimer.singleShot(4000, lambda: step(0))
    app.exec()
    w.shutdown()
    w.deleteLater()
    app.processEvents()
    for p in shots:
        print(f"{p}: {p.stat().st_size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1] if len(sys.argv) > 1 else "assets")
    sys.stdout.flush()
    # The screenshots are written. This script's interpreter teardown aborts inside PySide6
    # ("bool_dealloc" during the final garbage collection; the app itself exits cleanly, as
    # tests/gui/test_app.py checks), so skip the teardown.
    os._exit(code)
