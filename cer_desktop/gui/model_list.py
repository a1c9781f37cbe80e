"""The model manager's list: the models and adapters found on this machine (what `cer models`
lists), the curated base models and the recommended one, and downloading one with progress and
cancel."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cer_desktop.session import model_store

log = logging.getLogger(__name__)

Finder = Callable[[], Sequence[Any]]
Puller = Callable[..., str]  # (model_id, *, progress, cancel) -> folder


class _Download(QObject):
    """One download on its own thread (`cer-model-download`); results as queued signals."""

    progressed = Signal(float, str)
    finished = Signal(str, str)  # (folder, error): one of them is empty

    def __init__(self, model_id: str, puller: Puller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model_id = model_id
        self.cancel = threading.Event()
        self._puller = puller
        self.worker_thread = threading.Thread(
            target=self._run, name="cer-model-download", daemon=True
        )

    def _run(self) -> None:
        try:
            folder = self._puller(
                self.model_id,
                progress=lambda f, text: self.progressed.emit(float(f), text),
                cancel=self.cancel,
            )
        except Exception as exc:  # no network, no such model, cancelled: said, never raised
            log.warning("downloading %s failed: %s", self.model_id, exc)
            self.finished.emit("", str(exc) or type(exc).__name__)
        else:
            self.finished.emit(str(folder), "")


class ModelList(QWidget):
    """Local models and adapters with size and metadata; `picked(kind, name, base_model)` when
    the user chooses one (kind "model" or "adapter")."""

    picked = Signal(str, str, str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        finder: Finder | None = None,
        puller: Puller | None = None,
    ) -> None:
        super().__init__(parent)
        self._finder = finder or model_store.local_models
        self._puller = puller or model_store.pull_model
        self.download: _Download | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget()
        self.tree.setObjectName("modelTree")
        self.tree.setHeaderLabels(["Kind", "Name", "Size", "Label set / base model"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemActivated.connect(self._on_activated)
        self.tree.itemClicked.connect(self._on_activated)
        layout.addWidget(self.tree)
        recommended = model_store.recommended_model()
        self.recommended_label = QLabel(
            f"Recommended small model: <b>{recommended}</b> (fully proven here, Apache-2.0, "
            "the fewest parameters; see the README's 'Choosing a model')"
        )
        layout.addWidget(self.recommended_label)
        # the curated list: a click puts the id in the download field
        self.curated = QTreeWidget()
        self.curated.setObjectName("curatedTree")
        self.curated.setHeaderLabels(["Model", "Disk", "Memory", "Licence", "Proven", "Advice"])
        self.curated.setRootIsDecorated(False)
        for m in model_store.curated_models():
            proven = {"full": "in full", "scored": "scored"}.get(m.proven, "not yet")
            self.curated.addTopLevelItem(
                QTreeWidgetItem(
                    [
                        m.model_id,
                        f"{m.disk_gb:.1f} GB",
                        f"{m.min_memory_gb:.1f} GB",
                        m.licence,
                        proven,
                        m.advice,
                    ]
                )
            )
        self.curated.itemClicked.connect(self._on_curated)
        layout.addWidget(self.curated)
        row = QHBoxLayout()
        self.download_id = QLineEdit(recommended)
        self.download_id.setObjectName("downloadId")
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_download)
        for w in (self.download_id, self.download_button, self.cancel_button):
            row.addWidget(w)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.refresh()

    @Slot(QTreeWidgetItem, int)
    def _on_curated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.download_id.setText(item.text(0))

    def refresh(self) -> None:
        """List what is on this machine now."""
        self.tree.clear()
        try:
            found = list(self._finder())
        except Exception as exc:  # an unreadable cache must not break the dialog
            self.status.setText(f"Could not list local models: {exc}")
            found = []
        for m in found:
            detail = m.label_set if m.kind == "adapter" else ""
            if m.kind == "adapter" and m.base_model:
                detail = f"{detail or '?'} · base {m.base_model}"
            item = QTreeWidgetItem([m.kind, m.name, f"{m.size_bytes / 1e9:.2f} GB", detail])
            item.setData(0, Qt.ItemDataRole.UserRole, (m.kind, m.path, m.base_model))
            item.setToolTip(1, m.path)
            self.tree.addTopLevelItem(item)
        if not found:
            self.status.setText("No local models yet: download one, or use the instant tier.")
        for i in range(4):
            self.tree.resizeColumnToContents(i)

    @Slot()
    def start_download(self) -> None:
        model_id = self.download_id.text().strip()
        if not model_id or self.download is not None:
            return
        d = _Download(model_id, self._puller, self)
        d.progressed.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        d.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.download = d
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Downloading {model_id}…")
        d.worker_thread.start()

    @Slot()
    def cancel_download(self) -> None:
        if self.download is not None:
            self.download.cancel.set()
            self.status.setText("Cancelling after the files in progress…")

    def shutdown(self) -> None:
        """Cancel a download and wait for its thread (the dialog closes)."""
        d = self.download
        if d is not None:
            d.cancel.set()
            d.worker_thread.join(30.0)

    @Slot(float, str)
    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(100 * max(0.0, min(1.0, fraction))))
        if text:
            self.status.setText(f"Downloading {self.download_id.text().strip()}: {text}")

    @Slot(str, str)
    def _on_finished(self, folder: str, error: str) -> None:
        self.download = None
        self.progress.setVisible(False)
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.refresh()
        self.status.setText(f"Download stopped: {error}" if error else f"Downloaded to {folder}")

    def _on_activated(self, item: QTreeWidgetItem, column: int = 0) -> None:
        kind, path, base = item.data(0, Qt.ItemDataRole.UserRole)
        self.picked.emit(str(kind), str(path), str(base or ""))
