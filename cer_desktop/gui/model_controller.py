"""Loading models for the window: a background `ModelLoader`, its progress dialog and cancel,
and handing the loaded recognizer to the session (which keeps running meanwhile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from cer_desktop.contracts import Recognizer
from cer_desktop.gui.model_dialog import ModelDialog, ModelLoader
from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.session.live import LiveSession
from cer_desktop.session.recognizers import label_set_for


class ModelController(QObject):
    """Loads one model at a time; a new load or `cancel()` discards the previous one."""

    def __init__(
        self,
        window: QWidget,
        session: LiveSession,
        *,
        factory: Callable[..., Any] | None,
        current: Callable[[], RecognizerChoice],
        remember: Callable[[RecognizerChoice], None],
        say: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self._factory = factory
        self._current = current
        self._remember = remember
        self._say = say
        self.loader: ModelLoader | None = None
        self._old: list[ModelLoader] = []
        self.progress: QProgressDialog | None = None

    @Slot()
    def open_dialog(self) -> None:
        """The model dialog, opened on the current choice; OK loads what was chosen."""
        dialog = ModelDialog(self._current(), self._window)
        if dialog.exec() == ModelDialog.DialogCode.Accepted:
            self.load(dialog.choice())

    def load(self, choice: RecognizerChoice) -> ModelLoader | None:
        """Load `choice` in the background; the session keeps its current recognizer."""
        self.cancel()
        if not choice.wants_model:
            self._remember(choice)  # the instant recognizer needs no loading
            self._session.use_instant()
            return None
        loader = ModelLoader(choice, self._factory, self)
        loader.progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        loader.loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)
        loader.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self.loader = loader
        progress = QProgressDialog(f"Loading {choice.describe()}…", "Cancel", 0, 0, self._window)
        progress.setWindowTitle("Loading model")
        progress.setWindowModality(Qt.WindowModality.NonModal)
        progress.setMinimumDuration(0)
        progress.canceled.connect(self.cancel)
        progress.show()
        self.progress = progress
        loader.start()
        self._say(f"Loading {choice.describe()}…")
        if choice.credentials_removed:  # the clean URL is the one loaded, saved and shown
            from cer_desktop.session.remote import CREDENTIALS_NOTE

            self._say(f"Server URL: {CREDENTIALS_NOTE}")
        return loader

    @Slot()
    def cancel(self) -> None:
        """Cancel a load in progress: returns at once, the late result is discarded."""
        loader, self.loader = self.loader, None
        if loader is not None:
            loader.cancel()
            self._old.append(loader)
            self._say(
                "Model loading cancelled — still using " + self._session.recognizer_description
            )
        self._old = [ld for ld in self._old if ld.worker_thread.is_alive()]
        self._close_progress()

    def shutdown(self) -> None:
        """Cancel and join every load (closing the window)."""
        for loader in [self.loader, *self._old]:
            if loader is not None:
                loader.cancel()
                loader.join(30.0)
        self.loader = None
        self._old.clear()
        self._close_progress()

    def _close_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            progress.canceled.disconnect(self.cancel)
            progress.close()

    @Slot(str, float)
    def _on_progress(self, text: str, fraction: float) -> None:
        if self.progress is None:
            return
        if text:
            self.progress.setLabelText(text)
        if fraction >= 0:
            self.progress.setMaximum(100)
            self.progress.setValue(round(100 * min(1.0, fraction)))

    @Slot(object, object)
    def _on_loaded(self, recognizer: Recognizer, choice: RecognizerChoice) -> None:
        loader = self.sender()
        if loader is not self.loader or (isinstance(loader, ModelLoader) and loader.cancelled):
            recognizer.close()  # a cancelled or superseded load: discard
            return
        self.loader = None
        self._close_progress()
        self._remember(choice)
        self._session.set_recognizer(recognizer, choice.describe())
        # an adapter (or a served model's metadata) knows the label set it was trained on:
        # use it, as `cer annotate` does; the label list can still change it afterwards
        own = label_set_for(recognizer)
        # e.g. what 4-bit runs as on a Mac (device_plan.quant_note)
        note = getattr(recognizer, "device_note", "")
        note = f" — {note}" if isinstance(note, str) and note else ""
        if own is not None and own.labels != self._session.label_set.labels:
            self._session.set_label_set(own)
            self._say(f"Model ready: {choice.describe()} — labels: {own.title or own.name}{note}")
            return
        self._say(f"Model ready: {choice.describe()}{note}")

    @Slot(str, object)
    def _on_failed(self, message: str, choice: RecognizerChoice) -> None:
        if self.sender() is not self.loader:
            return
        self.loader = None
        self._close_progress()
        self._say(
            f"Could not load {choice.describe()} — still using "
            + self._session.recognizer_description
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Model",
            f"Could not load {choice.describe()}:\n\n{message}",
            parent=self._window,
        )
        box.setObjectName("modelErrorBox")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
