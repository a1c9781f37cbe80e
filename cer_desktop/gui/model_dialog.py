"""Model settings: the dialog that picks base model, adapter, quantisation and threshold, and
the background loader that builds the recognizer without freezing the window."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.settings import QUANTS

log = logging.getLogger(__name__)


class ModelDialog(QDialog):
    """Base model id or folder, adapter folder, quantisation, uncertainty threshold."""

    def __init__(
        self,
        choice: RecognizerChoice,
        parent: QWidget | None = None,
        *,
        models: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model settings")
        self.setObjectName("modelDialog")
        self.base = QLineEdit(choice.base)
        self.base.setPlaceholderText(
            "empty = instant recognizer; e.g. Qwen/Qwen2-VL-2B-Instruct or a folder"
        )
        self.adapter = QLineEdit(choice.adapter)
        self.adapter.setPlaceholderText("optional LoRA adapter folder")
        self.quant = QComboBox()
        self.quant.addItems(list(QUANTS))
        self.quant.setCurrentText(choice.quant if choice.quant in QUANTS else "none")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(choice.threshold)
        self.threshold.setToolTip('Under this top probability a face shows "uncertain"')

        from cer_desktop.gui.model_list import ModelList

        self.models = models if isinstance(models, ModelList) else ModelList(self)
        self.models.picked.connect(self._on_picked)
        self.finished.connect(lambda _: self.models.shutdown())
        local = QWidget()
        local_layout = QVBoxLayout(local)
        local_layout.addWidget(self.models)
        form = QFormLayout()
        local_layout.addLayout(form)
        form.addRow("Base model", _with_browse(self.base, self))
        form.addRow("Adapter", _with_browse(self.adapter, self))
        form.addRow("Quantisation", self.quant)
        note = QLabel(
            "Models are loaded from the local cache only: pick one above, or download one "
            "(as `cer models pull` does)."
        )
        note.setWordWrap(True)
        form.addRow(note)
        from cer_desktop.gui.remote_page import RemotePage

        self.remote = RemotePage(
            choice.server, choice.served_model, self, choice.model_meta, choice.deadline
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(local, "Local model")
        self.tabs.addTab(self.remote, "Remote server")
        self.tabs.setCurrentIndex(1 if choice.server else 0)
        common = QFormLayout()
        common.addRow("Threshold", self.threshold)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.use_instant = buttons.addButton("Use instant", QDialogButtonBox.ButtonRole.ResetRole)
        self.use_instant.clicked.connect(self._on_use_instant)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addLayout(common)
        layout.addWidget(buttons)
        self.finished.connect(self.remote.shutdown)

    def _on_picked(self, kind: str, path: str, base_model: str) -> None:
        if kind == "adapter":
            self.adapter.setText(path)
            if base_model and not self.base.text().strip():
                self.base.setText(base_model)
        else:
            self.base.setText(path)

    def _on_use_instant(self) -> None:
        self.base.clear()
        self.adapter.clear()
        self.remote.url.clear()
        self.tabs.setCurrentIndex(0)
        self.accept()

    def choice(self) -> RecognizerChoice:
        """The local model, or the remote server when its page is the one shown."""
        if self.tabs.currentWidget() is self.remote and self.remote.url.text().strip():
            return RecognizerChoice(
                threshold=float(self.threshold.value()),
                server=self.remote.url.text().strip(),
                served_model=self.remote.model.text().strip(),
                model_meta=self.remote.meta.text().strip(),
                deadline=float(self.remote.deadline.value()),
            )
        return RecognizerChoice(
            self.base.text().strip(),
            self.adapter.text().strip(),
            self.quant.currentText(),
            float(self.threshold.value()),
        )


def _with_browse(edit: QLineEdit, parent: QWidget) -> QWidget:
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    button = QPushButton("Folder…")

    def browse() -> None:
        folder = QFileDialog.getExistingDirectory(parent, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    button.clicked.connect(browse)
    row.addWidget(button)
    return box


class ModelLoader(QObject):
    """Builds a recognizer with `create_recognizer(spec)` on a background thread.

    `cancel()` returns at once: the load is told to stop (a `threading.Event` passed to the
    factory) and whatever it produces later is closed and discarded, never emitted.
    Signals: `progressed(text, fraction or -1)`, `loaded(recognizer, choice)`,
    `failed(message, choice)`.
    """

    progressed = Signal(str, float)
    loaded = Signal(object, object)
    failed = Signal(str, object)

    def __init__(
        self,
        choice: RecognizerChoice,
        factory: Callable[..., Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.choice = choice
        self._factory = factory
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cer-model-loader", daemon=True)

    @property
    def worker_thread(self) -> threading.Thread:
        """The loading thread (not `thread()`: that is the QObject's own Qt thread)."""
        return self._thread

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _progress(self, *args: Any, **kwargs: Any) -> None:
        # The factory's progress callback: accept (text), (fraction), (text, fraction)...
        text, fraction = "", -1.0
        for a in (*args, *kwargs.values()):
            if isinstance(a, str):
                text = a
            elif isinstance(a, int | float) and not isinstance(a, bool):
                fraction = float(a)
        if not self._cancel.is_set():
            self.progressed.emit(text, fraction)

    def _run(self) -> None:
        try:
            factory = self._factory
            if factory is None:
                from cer_desktop.session.model_store import load_recognizer

                factory = load_recognizer
            spec = self.choice.to_spec()
            recognizer = factory(spec, progress=self._progress, cancel=self._cancel)
        except Exception as exc:  # every failure becomes a message, never a crash
            log.warning("loading %s failed: %s", self.choice.describe(), exc)
            if not self._cancel.is_set():
                self.failed.emit(f"{type(exc).__name__}: {exc}", self.choice)
            return
        if self._cancel.is_set():
            try:
                recognizer.close()
            except Exception:
                log.exception("closing a cancelled recognizer failed")
            return
        self.loaded.emit(recognizer, self.choice)
