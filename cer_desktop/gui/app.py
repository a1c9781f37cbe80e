"""`cer-desktop`: start the window (options for source, model, label set, auto-quit, screenshot)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.settings import load_settings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cer-desktop",
        description="Live compound facial expression recognition from a camera, a file or the demo.",
    )
    p.add_argument(
        "--source", metavar="SPEC", help='"demo", "camera:0", a video file or an image folder'
    )
    # --model, --adapter, --quant, --server, --served-model, --model-meta (default: instant)
    RecognizerChoice.add_arguments(p, device=False)
    p.add_argument("--threshold", type=float, help='under this top probability show "uncertain"')
    p.add_argument(
        "--remote-deadline",
        type=float,
        metavar="SECONDS",
        help="seconds a frame waits for the --server before the instant tier labels it"
        " (default: the saved setting, 3)",
    )
    p.add_argument(
        "--label-set",
        metavar="NAME",
        help="raf_basic, raf_compound, c_expr, ...+neutral, custom:A,B",
    )
    p.add_argument("--max-faces", type=int, help="most faces per frame")
    p.add_argument("--record", action="store_true", help="start recording as soon as it runs")
    p.add_argument("--record-folder", metavar="DIR", help="where recordings go")
    p.add_argument(
        "--auto-quit", type=float, metavar="SECONDS", help="quit after this many seconds"
    )
    p.add_argument(
        "--screenshot", metavar="PATH", help="save a PNG of the window shortly before --auto-quit"
    )
    p.add_argument(
        "--lsl",
        action="store_true",
        help='stream to Lab Streaming Layer: "cer-desktop expressions" and "cer-desktop markers"',
    )
    p.add_argument(
        "--ws",
        metavar="HOST:PORT",
        help="serve JSON per frame over WebSocket (another host than 127.0.0.1 needs"
        " CER_STREAM_TOKEN)",
    )
    p.add_argument("--osc", metavar="HOST:PORT", help="send OSC messages per frame over UDP")
    p.add_argument(
        "--lsl-markers",
        metavar="NAME",
        help="read the experiment's LSL marker stream NAME (or type=...,source_id=...) into"
        " the recording's events",
    )
    p.add_argument("--no-save", action="store_true", help="do not write the settings file on exit")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="self-test: record ~60 demo frames through the window into a temporary folder, check"
        " them, print one JSON line, exit 0 or 1 (offscreen when there is no display)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every log message, third-party ones too (they always go to the log file)",
    )
    return p


def prepare_qt_environment(environ: dict[str, str] | None = None) -> str | None:
    """Make the environment fit for PySide6; returns a problem to show instead, or None.

    opencv-contrib-python (required by MediaPipe) points `QT_QPA_PLATFORM_PLUGIN_PATH` and
    `QT_QPA_FONTDIR` at the Qt 5 plugins it bundles as soon as `cv2` is imported; PySide6 (Qt 6)
    would then try cv2's xcb plugin. cv2 is imported here first and its settings are removed
    before Qt starts, so Qt uses its own plugins.
    """
    env = os.environ if environ is None else environ
    import cv2

    cv2_dir = os.path.dirname(os.path.abspath(cv2.__file__))
    for key in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = env.get(key)
        if value and os.path.abspath(value).startswith(cv2_dir):
            del env[key]
    if (
        sys.platform.startswith("linux")
        and not env.get("QT_QPA_PLATFORM")
        and not env.get("DISPLAY")
        and not env.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Start cer-desktop "
            "from a desktop session, under `xvfb-run -a cer-desktop`, or use the headless "
            "`cer annotate` command."
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The `cer-desktop` entry point."""
    args = build_parser().parse_args(argv)
    from cer_desktop.logs import setup_logging

    # A quiet console (third-party noise goes to the log file only) unless --verbose.
    setup_logging(args.verbose)
    if args.smoke and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = prepare_qt_environment()
    if problem is not None:
        print(f"cer-desktop: {problem}", file=sys.stderr)
        return 2
    if args.smoke:
        from cer_desktop.gui.smoke import run_smoke

        return run_smoke()
    settings = load_settings()
    if args.source:
        settings.source = args.source
    if args.label_set:
        settings.label_set = args.label_set
    if args.max_faces:
        settings.max_faces = args.max_faces
    if args.threshold is not None:
        settings.threshold = args.threshold
    if args.record_folder:
        settings.record_folder = args.record_folder
    if args.remote_deadline is not None:
        if not 0.2 <= args.remote_deadline <= 120.0:
            print("cer-desktop: --remote-deadline must be 0.2..120 seconds", file=sys.stderr)
            return 2
        settings.remote_deadline = args.remote_deadline
    problem = _apply_stream_args(args, settings)
    if problem:
        print(f"cer-desktop: {problem}", file=sys.stderr)
        return 2
    if (args.server or args.served_model) and not (args.server and args.served_model):
        print("cer-desktop: --server needs --served-model (and no --model)", file=sys.stderr)
        return 2
    try:
        # the options over the saved choice; the saved one alone when they name nothing
        saved = RecognizerChoice.from_settings(settings)
        model_choice = RecognizerChoice.from_args(args, default=saved)
    except ValueError as exc:
        print(f"cer-desktop: {exc}", file=sys.stderr)
        return 2
    if model_choice is not None and args.server and model_choice.credentials_removed:
        from cer_desktop.session.remote import CREDENTIALS_NOTE

        print(f"cer-desktop: --server: {CREDENTIALS_NOTE}", file=sys.stderr)
    if model_choice is not None and not model_choice.wants_model:
        model_choice = None

    code = _run_window(args, settings, model_choice)
    # Collect the window's Python wrappers while Qt and the extension modules are still
    # alive, not during the interpreter's final garbage collection.
    import gc

    gc.collect()
    return code


def _apply_stream_args(args: argparse.Namespace, settings: object) -> str:
    """Stream flags switch streams on in the settings (remembered like the window's choices);
    returns a problem with an address, or ""."""
    from cer_desktop.session.streams import StreamsError, normal_address

    s: Any = settings
    try:
        if args.ws:
            s.stream_ws, s.stream_ws_address = True, normal_address(args.ws, 8765)
        if args.osc:
            s.stream_osc, s.stream_osc_address = True, normal_address(args.osc, 9000)
    except StreamsError as exc:
        return str(exc)
    if args.lsl:
        s.stream_lsl = True
    if args.lsl_markers:
        s.stream_lsl_markers = args.lsl_markers
    return ""


def _run_window(args: argparse.Namespace, settings: object, model_choice: object) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.gui.quit_signals import QuitOnSignals

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cer-desktop")
    window = MainWindow(settings, persist=not args.no_save)  # type: ignore[arg-type]
    app.aboutToQuit.connect(window.shutdown)
    # Ctrl+C, `kill` and logout stop a recording like the Stop button, then quit.
    signals = QuitOnSignals(app.quit)
    window.show()
    window.recover_unfinished_sessions()
    if args.record:
        QTimer.singleShot(0, window.start_recording)
    if model_choice is not None and model_choice.wants_model:  # type: ignore[attr-defined]
        # Starts on the instant recognizer; the model replaces it once loaded.
        QTimer.singleShot(0, lambda: window.load_model(model_choice))  # type: ignore[arg-type]

    if args.auto_quit is not None:
        quit_ms = max(0, int(args.auto_quit * 1000))
        if args.screenshot:
            path = args.screenshot

            def grab() -> None:
                if not window.grab().save(path, "PNG"):
                    log.error("could not save the screenshot to %s", path)

            QTimer.singleShot(max(0, quit_ms - 400), grab)
        QTimer.singleShot(quit_ms, app.quit)
    code = app.exec()
    window.shutdown()
    signals.uninstall()
    app.aboutToQuit.disconnect(window.shutdown)
    window.deleteLater()
    app.processEvents()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
