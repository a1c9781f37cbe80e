"""The window's *Streams* menu and page: LSL, WebSocket and OSC on or off, their addresses,
the experiment's marker stream, and a status-bar label with the consumers connected."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
)

from cer_desktop.session.streams import (
    StreamsError,
    config_from_settings,
    normal_address,
)
from cer_desktop.settings import AppSettings

if TYPE_CHECKING:
    from cer_desktop.gui.main_window import MainWindow


class StreamsPage(QDialog):
    """Switch each stream on and set its address; `apply()` stores them in the settings."""

    def __init__(self, settings: AppSettings, parent: QMainWindow | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("streamsPage")
        self.setWindowTitle("Streams")
        s = settings
        form = QFormLayout(self)
        self.lsl = QCheckBox('Lab Streaming Layer: "cer-desktop expressions" and markers')
        self.lsl.setChecked(s.stream_lsl)
        self.ws = QCheckBox("WebSocket server (JSON per frame)")
        self.ws.setChecked(s.stream_ws)
        self.ws_address = QLineEdit(s.stream_ws_address)
        self.ws_address.setToolTip(
            "HOST:PORT to bind. Another address than 127.0.0.1 needs CER_STREAM_TOKEN in the "
            "environment; clients send it as 'Authorization: Bearer <token>'."
        )
        self.osc = QCheckBox("OSC over UDP (Max/MSP, TouchDesigner, Pure Data)")
        self.osc.setChecked(s.stream_osc)
        self.osc_address = QLineEdit(s.stream_osc_address)
        self.osc_address.setToolTip("HOST:PORT the OSC messages are sent to")
        self.markers = QLineEdit(s.stream_lsl_markers)
        self.markers.setPlaceholderText("none (a stream name, or type=Markers,source_id=…)")
        self.markers.setToolTip(
            "The experiment's LSL marker stream: its markers go into the recording's events"
        )
        form.addRow(self.lsl)
        form.addRow(self.ws)
        form.addRow("WebSocket address", self.ws_address)
        form.addRow(self.osc)
        form.addRow("OSC address", self.osc_address)
        form.addRow("Experiment markers (LSL)", self.markers)
        self.problem = QLabel("")
        self.problem.setObjectName("streamsProblem")
        self.problem.setStyleSheet("color: #c02020")
        form.addRow(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._on_ok)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._settings = settings

    def apply(self) -> bool:
        """Copy the page into the settings; False (with the problem shown) on a bad address."""
        try:
            ws = normal_address(self.ws_address.text(), 8765)
            osc = normal_address(self.osc_address.text(), 9000)
        except StreamsError as exc:
            self.problem.setText(str(exc))
            return False
        s = self._settings
        s.stream_lsl, s.stream_ws, s.stream_osc = (
            self.lsl.isChecked(), self.ws.isChecked(), self.osc.isChecked(),
        )  # fmt: skip
        s.stream_ws_address, s.stream_osc_address = ws, osc
        s.stream_lsl_markers = self.markers.text().strip()
        return True

    def _on_ok(self) -> None:
        if self.apply():
            self.accept()


class StreamsControls:
    """The *Streams* menu (the page, and all streams off) and the status-bar label of
    `window`'s `streams`; the streams its settings remember start at once."""

    def __init__(self, window: MainWindow) -> None:
        self._window, self._streams = window, window.streams
        self._settings: Callable[[], AppSettings] = lambda: window.settings
        self._save = window.save
        menu = window.menuBar().addMenu("S&treams")
        menu.setObjectName("streamsMenu")
        self.page_action = menu.addAction("Streams…")
        self.page_action.setObjectName("streamsAction")
        self.page_action.setToolTip("Stream results to LSL, WebSocket, OSC; read LSL markers")
        self.page_action.triggered.connect(self.open_page)
        self.off_action = menu.addAction("All streams off")
        self.off_action.triggered.connect(self.all_off)
        self.label = QLabel("")
        self.label.setObjectName("streamsStatus")
        window.statusBar().addPermanentWidget(self.label)
        self.page: StreamsPage | None = None
        self.apply_settings()

    def apply_settings(self) -> list[str]:
        """Run the streams the settings switch on; the problems of those that cannot start."""
        problems = self._streams.apply(config_from_settings(self._settings()))
        self.refresh()
        return problems

    def open_page(self) -> StreamsPage:
        """The streams page (non-modal); OK applies and remembers."""
        self.page = StreamsPage(self._settings(), self._window)
        self.page.accepted.connect(self._on_accepted)
        self.page.show()
        return self.page

    def all_off(self) -> None:
        s = self._settings()
        s.stream_lsl = s.stream_ws = s.stream_osc = False
        s.stream_lsl_markers = ""
        self._on_accepted()

    def _on_accepted(self) -> None:
        self._save()
        self.apply_settings()

    def refresh(self) -> None:
        self.label.setText(self._streams.status_text())
