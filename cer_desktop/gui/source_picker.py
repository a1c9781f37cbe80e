"""Choosing the source: the source list (cameras, demo, recent files, "Video file…", "Image
folder…"), its file dialogs, dropped files, and remembering the choice in the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from cer_desktop.gui.toolbar import SOURCE_FILE, SOURCE_FOLDER
from cer_desktop.option_values import VIDEO_SUFFIXES
from cer_desktop.settings import AppSettings

NO_CAMERA_MESSAGE = "No camera found — showing the built-in demo"
VIDEO_FILTER = f"Videos ({' '.join('*' + s for s in sorted(VIDEO_SUFFIXES))});;All files (*)"


class SourcePicker(QObject):
    """Keeps the source list and the settings in step; `chosen(spec)` starts the new source.

    `initial_message` says why the first source is not the one asked for (no camera).
    """

    def __init__(
        self,
        parent: QWidget,
        combo: QComboBox,
        settings: Callable[[], AppSettings],
        have_camera: bool,
        chosen: Callable[[str], object],
    ) -> None:
        super().__init__(parent)
        self._parent = parent
        self.combo = combo
        self._settings = settings
        self._have_camera = have_camera
        self._chosen = chosen
        self.initial_message = ""
        self.select(self._initial_spec())
        combo.activated.connect(self._on_activated)

    @property
    def spec(self) -> str:
        return str(self.combo.currentData())

    def _initial_spec(self) -> str:
        s = self._settings()
        spec = s.source or "auto"
        if spec == "auto":
            if self._have_camera:
                preferred = f"camera:{s.camera_index}"
                if self.combo.findData(preferred) >= 0:
                    return preferred
                return str(self.combo.itemData(0))
            self.initial_message = NO_CAMERA_MESSAGE
            return "demo"
        if spec.startswith("camera:") and not self._have_camera:
            self.initial_message = f"{NO_CAMERA_MESSAGE} (camera {spec} not found)"
            return "demo"
        return spec

    def select(self, spec: str) -> None:
        """Show `spec` as the current source (added to the list when new)."""
        i = self.combo.findData(spec)
        if i < 0:
            title = Path(spec).name or spec
            self.combo.insertItem(self.combo.count() - 2, title, spec)
            i = self.combo.findData(spec)
        self.combo.setCurrentIndex(i)

    def remember(self, spec: str) -> None:
        """Select `spec` and keep it in the settings (recent files, camera index)."""
        self.select(spec)
        s = self._settings()
        if Path(spec).exists():
            s.recent_files = [spec, *(r for r in s.recent_files if r != spec)][:5]
        s.source = spec
        if spec.startswith("camera:"):
            try:
                s.camera_index = int(spec.split(":", 1)[1])
            except ValueError:
                pass

    @Slot()
    def open_file(self) -> None:
        self._on_activated(self.combo.findData(SOURCE_FILE))

    @Slot()
    def open_folder(self) -> None:
        self._on_activated(self.combo.findData(SOURCE_FOLDER))

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        source = self._settings().source
        previous = source if source not in ("auto", "") else "demo"
        path = str(data)
        if data == SOURCE_FILE:
            path, _ = QFileDialog.getOpenFileName(self._parent, "Open a video", "", VIDEO_FILTER)
        elif data == SOURCE_FOLDER:
            path = QFileDialog.getExistingDirectory(self._parent, "Open a folder of images")
        if not path:
            self.select(previous)
            return
        self._chosen(path)
