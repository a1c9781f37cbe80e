"""The model dialog's page for a remote server: URL, served model, a connection test, and a
plain statement that face crops leave the machine, and to where."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from cer_desktop.session.remote import (
    API_KEY_ENV,
    CREDENTIALS_NOTE,
    looks_local,
    strip_url_credentials,
)


def privacy_text(url: str) -> str:
    """What the user must know before sending faces to `url` (never shows the key, nor a
    password typed into the URL)."""
    url, had_credentials = strip_url_credentials(url)
    if not url:
        return "Enter the server's URL, e.g. http://127.0.0.1:8000/v1 (vLLM, SGLang, llama.cpp)."
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or url
    if looks_local(host):
        where = "to a server on this machine"
    else:
        where = f"to {host}" + (" unencrypted (plain http)" if parts.scheme != "https" else "")
    text = f"Face crops leave this application: each aligned face image is sent {where}."
    if had_credentials:
        text = f"Note: {CREDENTIALS_NOTE}\n{text}"
    if os.environ.get(API_KEY_ENV):
        if parts.scheme != "https" and not looks_local(host):
            text += f" {API_KEY_ENV} is set but is only sent over https or to this machine."
        else:
            text += f" The API key comes from {API_KEY_ENV} and is never saved."
    return text


class RemotePage(QWidget):
    """URL + served model name, a "Test connection" button (probes off the UI thread)."""

    probed = Signal(str, bool)  # message, ok

    def __init__(
        self,
        url: str = "",
        model: str = "",
        parent: QWidget | None = None,
        meta: str = "",
        deadline: float = 3.0,
    ) -> None:
        super().__init__(parent)
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://127.0.0.1:8000/v1")
        self.model = QLineEdit(model)
        self.model.setPlaceholderText("the --served-model-name of the server")
        self.meta = QLineEdit(meta)
        self.meta.setPlaceholderText("optional: the merged model's cer_adapter.json")
        self.meta.setToolTip(
            "cer export --merge writes cer_adapter.json beside the merged model: with it the "
            "faces are asked with the prompt, crop size and label set the model was trained with"
        )
        self.deadline = QDoubleSpinBox()
        self.deadline.setRange(0.2, 120.0)
        self.deadline.setSingleStep(0.5)
        self.deadline.setSuffix(" s")
        self.deadline.setValue(deadline)
        self.deadline.setToolTip(
            "Live, a frame waits this long for the server; then the instant tier labels it "
            "and the server is tried again in the background"
        )
        self.test = QPushButton("Test connection")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.privacy = QLabel(privacy_text(url))
        self.privacy.setObjectName("remotePrivacy")
        self.privacy.setWordWrap(True)
        self.privacy.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout(self)
        form.addRow("Server URL", self.url)
        form.addRow("Served model", self.model)
        form.addRow("Model metadata", self.meta)
        form.addRow("Live deadline", self.deadline)
        form.addRow(self.privacy)
        form.addRow(self.test)
        form.addRow(self.result)
        self.url.textChanged.connect(self._on_url_changed)
        self.test.clicked.connect(self.run_probe)
        self.probed.connect(self._on_probed, Qt.ConnectionType.QueuedConnection)
        self._thread: threading.Thread | None = None

    @Slot(str)
    def _on_url_changed(self, text: str) -> None:
        self.privacy.setText(privacy_text(text))

    @Slot()
    def run_probe(self) -> None:
        """Probe the server in a background thread; `probed` reports the outcome."""
        if not self.test.isEnabled():  # a probe is running (re-enabled when it reports)
            return
        if self._thread is not None:
            self._thread.join(timeout=1)  # it has reported; only its last steps remain
        url, had_credentials = strip_url_credentials(self.url.text())
        if had_credentials:  # never kept, never sent: show the clean URL in the field too
            self.url.setText(url)
        model = self.model.text().strip()
        self.test.setEnabled(False)
        self.result.setText(f"connecting to {url}…")
        self._thread = threading.Thread(
            target=self._probe, args=(url, model), name="cer-remote-probe", daemon=True
        )
        self._thread.start()

    def _probe(self, url: str, model: str) -> None:
        from cer_desktop.session.remote import probe

        ok, message = probe(url, model)
        self.probed.emit(message, ok)

    @Slot(str, bool)
    def _on_probed(self, message: str, ok: bool) -> None:
        self.test.setEnabled(True)
        self.result.setText(message)

    @Slot()
    def shutdown(self) -> None:
        """Wait for a running probe (bounded by its timeout)."""
        if self._thread is not None:
            self._thread.join(timeout=15)
