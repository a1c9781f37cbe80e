"""The window's recording controls: Record / Stop, Marker, Raw video too, Record folder."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow

from cer_desktop.session.live import LiveSession
from cer_desktop.settings import AppSettings


class RecordingControls(QObject):
    """Forwards the recording actions to `session.recording`; `changed()` re-syncs the
    window's controls, `say(message)` shows a lasting message."""

    def __init__(
        self,
        window: QMainWindow,
        session: LiveSession,
        settings: Callable[[], AppSettings],
        *,
        start_session: Callable[[], bool],
        save: Callable[[], None],
        say: Callable[[str], None],
        changed: Callable[[], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self._settings = settings
        self._start_session = start_session
        self._save = save
        self._say = say
        self._changed = changed

    @Slot(bool)
    def toggle(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()
        self._changed()

    def start(self) -> bool:
        """Record the running session (starting it if needed); False with a message if not."""
        if not self._session.running and not self._start_session():
            return False
        s = self._settings()
        extra = {
            "model": s.model_base or "instant",
            "adapter": s.model_adapter or None,
            "quant": s.model_quant,
            "threshold": s.threshold,
        }
        folder = self._session.recording.start(
            s.record_folder, record_raw=s.record_raw, extra=extra
        )
        self._changed()
        if folder is not None:
            self._window.statusBar().showMessage(f"Recording to {folder}")
        return folder is not None

    def stop(self) -> None:
        stopped = self._session.recording.stop()
        if stopped is not None:
            self._say(stopped.status.message)

    @Slot()
    def marker(self) -> None:
        if not self._session.recording.active:
            return
        note, ok = QInputDialog.getText(self._window, "Marker", "Note (optional):")
        if ok:
            try:
                if self._session.recording.add_marker(note):
                    message = f"Marker added{': ' + note if note else ''}"
                    self._window.statusBar().showMessage(message, 3000)
            except Exception as exc:
                self._say(f"Marker failed: {exc}")

    @Slot(bool)
    def set_raw(self, on: bool) -> None:
        self._settings().record_raw = bool(on)
        self._save()

    @Slot()
    def choose_folder(self) -> None:
        s = self._settings()
        folder = QFileDialog.getExistingDirectory(self._window, "Record into", s.record_folder)
        if folder:
            s.record_folder = folder
            self._save()
