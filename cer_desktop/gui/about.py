"""The About box: versions, the model in use, and where the log file is (for bug reports)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QMessageBox, QWidget


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(model: str, log_file: str = "") -> str:
    """The About box's text (plain HTML)."""
    rows = [
        ("cer-desktop", _version("cer-desktop")),
        ("Model in use", model),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
        ("PySide6", pyside_version),
        ("MediaPipe", _version("mediapipe")),
        ("torch", _version("torch")),
        ("transformers", _version("transformers")),
    ]
    if log_file:
        rows.append(("Log file (attach it to bug reports)", log_file))
    body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return (
        "<p>Live compound facial expression recognition with fine-tuned vision-language "
        f"models.</p><table>{body}</table>"
    )


def show_about(parent: QWidget, model: str, log_file: str = "") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About cer-desktop", "", parent=parent)
    box.setObjectName("aboutBox")
    box.setText(about_text(model, log_file))
    box.show()
    return box
