"""cer-desktop starts Qt with its own plugins and says clearly when there is no display."""

from __future__ import annotations

import os

import cv2

from cer_desktop.gui.app import prepare_qt_environment

CV2_DIR = os.path.dirname(os.path.abspath(cv2.__file__))


def test_opencvs_qt_plugin_settings_are_removed_and_others_kept() -> None:
    # Given the variables opencv sets on import, and a user's own plugin path elsewhere
    env = {
        "QT_QPA_PLATFORM_PLUGIN_PATH": os.path.join(CV2_DIR, "qt", "plugins"),
        "QT_QPA_FONTDIR": os.path.join(CV2_DIR, "qt", "fonts"),
        "DISPLAY": ":0",
    }
    # When the app prepares Qt's environment
    problem = prepare_qt_environment(env)
    # Then opencv's Qt 5 settings are gone and nothing is reported
    assert problem is None
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in env and "QT_QPA_FONTDIR" not in env
    mine = {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/my-qt/plugins", "DISPLAY": ":0"}
    prepare_qt_environment(mine)
    assert mine["QT_QPA_PLATFORM_PLUGIN_PATH"] == "/opt/my-qt/plugins"


def test_no_display_is_a_clear_message_not_a_qt_abort() -> None:
    env: dict[str, str] = {}
    problem = prepare_qt_environment(env)
    assert problem is not None and "no display" in problem and "xvfb-run" in problem
    assert prepare_qt_environment({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert prepare_qt_environment({"WAYLAND_DISPLAY": "wayland-0"}) is None


def test_the_qt_binding_keeps_its_references_to_none(qtbot) -> None:
    # On Python 3.11 None is an ordinary object: a binding that drops a reference to it on
    # every call aborts the process ("none_dealloc: deallocating None") once the count reaches
    # zero. PySide6 6.12.0 does so on every QWidget.update(), which the live window calls tens
    # of times a second: the app died after ~35 s of video (pyproject.toml excludes it).
    import sys

    from PySide6.QtWidgets import QWidget

    w = QWidget()
    qtbot.addWidget(w)
    before = sys.getrefcount(None)
    for _ in range(2000):
        w.update()
    lost = before - sys.getrefcount(None)
    assert lost < 100, f"2000 QWidget.update() calls dropped {lost} references to None"
