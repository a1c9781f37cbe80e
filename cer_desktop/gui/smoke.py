"""`cer-desktop --smoke`: prove an install or a frozen bundle really works, end to end.

Opens the main window (offscreen when there is no display), runs the built-in demo source
through MediaPipe, the instant recognizer and the painter, records about 60 frames with the
window's own recorder into a temporary folder, then checks what was written: the annotated
video decodes to as many frames as the recorder wrote, the CSV has rows with faces and
probabilities that sum to 1, and the manifest says the session is complete. It prints one JSON
line and returns 0, or 1 with the reason. A bundle that lacks Qt's plugins, MediaPipe's face
models or PyAV's codecs fails here instead of on a user's machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cer_desktop.extras import MODULE_EXTRA

SMOKE_FRAMES = 60
# Seconds to wait for the first shown frame (MediaPipe loads its models) and for the frames.
START_TIMEOUT_S = 60.0
RECORD_TIMEOUT_S = 120.0
SHOWN_MARGIN = 5


class SmokeFailure(Exception):
    """A smoke check that failed; the message is the reason printed in the JSON line."""


def heavy_modules_imported() -> list[str]:
    """Modules of the extras (torch, transformers, ...) present in this process."""
    return sorted(m for m in MODULE_EXTRA if m in sys.modules)


def run_smoke(frames: int = SMOKE_FRAMES, keep: str | None = None) -> int:
    """Run the smoke test in this process (a `QApplication` must not exist yet or be reusable).

    Prints one JSON object on stdout (and writes it to $CER_SMOKE_JSON when set); returns the
    process exit code. `keep` names a folder to
    record into and leave in place (default: a temporary folder, removed afterwards).
    """
    t0 = time.monotonic()
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="cer-smoke-"))
    result: dict[str, Any] = {"smoke": "failed", "frozen": bool(getattr(sys, "frozen", False))}
    try:
        result.update(_run(root, frames))
        result["smoke"] = "ok"
        code = 0
    except SmokeFailure as exc:
        result["reason"] = str(exc)
        code = 1
    except Exception as exc:  # anything else is a failure with its reason, never a traceback
        result["reason"] = f"{type(exc).__name__}: {exc}"
        code = 1
    result["heavy_modules"] = heavy_modules_imported()
    result["seconds"] = round(time.monotonic() - t0, 2)
    if keep:
        result["folder"] = str(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result), flush=True)
    # a windowed Windows exe has no stdout (print writes nothing): CI reads this file instead
    out = os.environ.get("CER_SMOKE_JSON")
    if out:
        Path(out).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return code


def _run(root: Path, frames: int) -> dict[str, Any]:
    # Settings stay in the temporary folder: the user's own settings are never read or written.
    os.environ["CER_DESKTOP_CONFIG_DIR"] = str(root / "config")
    from PySide6.QtWidgets import QApplication

    plugin = check_platform_plugin() if QApplication.instance() is None else None

    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if not isinstance(app, QApplication):
        raise SmokeFailure("a QCoreApplication without widgets already exists")
    # Qt aborts the process without a platform plugin: `check_platform_plugin` says why first.
    info: dict[str, Any] = {"qt_platform": app.platformName(), "qt_plugin": plugin}
    settings = AppSettings(source="demo", record_folder=str(root / "sessions"))
    window = MainWindow(settings, cameras=[], persist=False)
    try:
        window.show()
        _wait(app, lambda: window.view.shown >= 1, START_TIMEOUT_S, window, "no frame was shown")
        info["recognizer"] = getattr(window.recognizer, "name", None)
        if info["recognizer"] != "instant":
            raise SmokeFailure(f"the window runs {info['recognizer']!r}, not the instant one")
        if not window.start_recording():
            raise SmokeFailure(f"recording did not start: {_status(window)}")
        shown0 = window.view.shown
        # The recorder receives every painted frame and the view shows the newest of them;
        # a few frames painted before the recorder joined may still be shown after it did.
        _wait(
            app,
            lambda: window.view.shown - shown0 >= frames + SHOWN_MARGIN,
            RECORD_TIMEOUT_S,
            window,
            f"fewer than {frames} frames were shown while recording",
        )
        window.record_action.trigger()  # the user's Stop: the recorder closes its files
        app.processEvents()
        # "blendshapes" when the face landmarker model was found (a bundle carries it)
        info["au_source"] = getattr(window.recognizer, "au_source", None)
        if window.recording:
            raise SmokeFailure("the recording did not stop")
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()
        app.processEvents()
    sessions = sorted(p for p in (root / "sessions").iterdir() if p.is_dir())
    if len(sessions) != 1:
        raise SmokeFailure(f"expected one session folder, found {len(sessions)}")
    from cer_desktop.session.verify import RecordingCheckFailed, check_recording

    try:
        info.update(check_recording(sessions[0], frames, recognizer="instant"))
    except RecordingCheckFailed as exc:
        raise SmokeFailure(str(exc)) from exc
    return info


def check_platform_plugin() -> str:
    """The Qt platform plugin this process will load; `SmokeFailure` if there is none."""
    from PySide6.QtCore import QCoreApplication

    default = {"win32": "windows", "darwin": "cocoa"}.get(sys.platform) or (
        "wayland" if os.environ.get("WAYLAND_DISPLAY") else "xcb"
    )
    name = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] or default
    # Qt's own search path: its plugin folder (qt.conf in a bundle) and QT_PLUGIN_PATH.
    folders = [Path(p) / "platforms" for p in QCoreApplication.libraryPaths()]
    for folder in folders:
        found = sorted(folder.glob(f"*q{name}.*")) if folder.is_dir() else []
        if found:
            return str(found[0])
    where = ", ".join(str(f) for f in folders) or "no plugin folder"
    raise SmokeFailure(f"the Qt platform plugin {name!r} is missing ({where})")


def _status(window: Any) -> str:
    return str(window.statusBar().currentMessage()) or "no status message"


def _wait(app: Any, done: Any, timeout: float, window: Any, what: str) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise SmokeFailure(f"{what} within {timeout:.0f} s ({_status(window)})")
        app.processEvents()
        time.sleep(0.01)
