"""The window's controls: the two toolbars (source, labels, smoothing, faces, AUs; start,
record, marker, raw, neutral, model, record folder) and the menu bar that lists every action
with its shortcut."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QMainWindow,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
)

from cer_desktop.labels import BUILTIN, LabelSet
from cer_desktop.settings import AppSettings

SOURCE_FILE = "__file__"
SOURCE_FOLDER = "__folder__"


@dataclass
class Controls:
    """The widgets and actions the window wires to its session."""

    source_combo: QComboBox
    label_combo: QComboBox
    smoothing_slider: QSlider
    max_faces_spin: QSpinBox
    aus_check: QCheckBox
    start_button: QPushButton
    start_action: QAction
    record_action: QAction
    marker_action: QAction
    raw_action: QAction
    baseline_action: QAction
    model_action: QAction
    record_folder_action: QAction
    open_file_action: QAction
    open_folder_action: QAction
    full_screen_action: QAction
    about_action: QAction
    sessions_action: QAction
    quit_action: QAction


def _action(
    window: QMainWindow, text: str, shortcut: str = "", tip: str = "", name: str = ""
) -> QAction:
    a = QAction(text, window)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
    if name:
        a.setObjectName(name)
    return a


def build_controls(
    window: QMainWindow, settings: AppSettings, cameras: list[tuple[str, str]]
) -> Controls:
    """Build the toolbars and the menu bar on `window` (signals are connected by the window)."""
    tb = QToolBar("Controls", window)
    tb.setObjectName("controls")
    tb.setMovable(False)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    source = QComboBox()
    source.setObjectName("sourceCombo")
    source.setToolTip("Where frames come from (or drop a video or image folder on the window)")
    for title, spec in cameras:
        source.addItem(title, spec)
    source.addItem("Demo (no camera)", "demo")
    for recent in settings.recent_files:
        if Path(recent).exists():
            source.addItem(Path(recent).name or recent, recent)
    source.addItem("Video file…", SOURCE_FILE)
    source.addItem("Image folder…", SOURCE_FOLDER)
    tb.addWidget(QLabel(" Source "))
    tb.addWidget(source)

    labels = QComboBox()
    labels.setObjectName("labelSetCombo")
    for name, ls in BUILTIN.items():
        labels.addItem(ls.title or name, name)
    tb.addWidget(QLabel(" Labels "))
    tb.addWidget(labels)

    smoothing = QSlider(Qt.Orientation.Horizontal)
    smoothing.setObjectName("smoothingSlider")
    smoothing.setRange(0, 95)
    smoothing.setValue(round(settings.smoothing * 100))
    smoothing.setFixedWidth(110)
    smoothing.setToolTip("Smoothing of labels over time (0 = off)")
    tb.addWidget(QLabel(" Smoothing "))
    tb.addWidget(smoothing)

    faces = QSpinBox()
    faces.setObjectName("maxFacesSpin")
    faces.setRange(1, 16)
    faces.setValue(settings.max_faces)
    faces.setToolTip("Most faces analysed per frame (applies on restart)")
    tb.addWidget(QLabel(" Faces "))
    tb.addWidget(faces)

    aus = QCheckBox("AUs")
    aus.setChecked(settings.show_aus)
    aus.setToolTip("Paint the action-unit readout on the video too")
    tb.addWidget(aus)

    # Session actions on a second row so nothing hides behind the overflow arrow.
    window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
    tb = QToolBar("Session", window)
    tb.setObjectName("session")
    tb.setMovable(False)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
    start = QPushButton("Start")
    start.setObjectName("startButton")
    tb.addWidget(start)

    c = Controls(
        source_combo=source,
        label_combo=labels,
        smoothing_slider=smoothing,
        max_faces_spin=faces,
        aus_check=aus,
        start_button=start,
        start_action=_action(window, "Start / stop", "Space", "Start or stop the video"),
        record_action=_action(window, "● Record", "Ctrl+R", "Record the session", "recordAction"),
        marker_action=_action(
            window, "Marker", "Ctrl+M", "Add a marker with an optional note to the recording"
        ),
        raw_action=_action(
            window, "Raw video too", "", "Also record the frames without overlays (next recording)"
        ),
        baseline_action=_action(
            window,
            "Reset neutral",
            "Ctrl+B",
            "Re-learn each face's neutral baseline from the next seconds (instant recognizer)",
            "resetBaselineAction",
        ),
        model_action=_action(window, "Model…", "Ctrl+L", "Choose the model", "modelAction"),
        record_folder_action=_action(window, "Record folder…", "", "Where recordings go"),
        open_file_action=_action(window, "Open video…", "Ctrl+O", "Use a video file as source"),
        open_folder_action=_action(
            window, "Open image folder…", "Ctrl+Shift+O", "Use a folder of images as source"
        ),
        full_screen_action=_action(window, "Full screen", "F11", "Show the window full screen"),
        about_action=_action(window, "About cer-desktop", "F1", "Versions, model, log file"),
        quit_action=_action(window, "Quit", "Ctrl+Q", "Quit"),
        sessions_action=_action(
            window, "Sessions…", "Ctrl+Shift+S", "Browse, play, report and recover recordings"
        ),
    )
    c.record_action.setCheckable(True)
    c.marker_action.setEnabled(False)
    c.raw_action.setCheckable(True)
    c.raw_action.setChecked(settings.record_raw)
    c.full_screen_action.setCheckable(True)
    for a in (
        c.record_action,
        c.marker_action,
        c.raw_action,
        c.baseline_action,
        c.model_action,
        c.record_folder_action,
    ):
        tb.addAction(a)
    _build_menus(window, c)
    return c


def _build_menus(window: QMainWindow, c: Controls) -> None:
    bar = window.menuBar()
    menus = {
        "&File": (
            c.open_file_action,
            c.open_folder_action,
            c.sessions_action,
            c.record_folder_action,
            c.quit_action,
        ),
        "&Session": (
            c.start_action,
            c.record_action,
            c.marker_action,
            c.raw_action,
            c.baseline_action,
        ),
        "&Model": (c.model_action,),
        "&View": (c.full_screen_action,),
        "&Help": (c.about_action,),
    }
    for title, actions in menus.items():
        menu = bar.addMenu(title)
        menu.setObjectName(title.strip("&").lower() + "Menu")
        for a in actions:
            menu.addAction(a)


def select_label_set(combo: QComboBox, label_set: LabelSet) -> None:
    """Show `label_set` in the label-set list (added when it is not a built-in one)."""
    i = combo.findData(label_set.name)
    if i < 0:
        combo.addItem(label_set.title or label_set.name, label_set.name)
        i = combo.findData(label_set.name)
    combo.setCurrentIndex(i)
