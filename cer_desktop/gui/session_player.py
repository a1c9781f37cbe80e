"""Playing a recorded session: its annotated video beside its label timeline, a cursor
following the video."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cer_desktop.gui.face_panel import PALETTE
from cer_desktop.gui.video_view import FrameBridge, VideoView
from cer_desktop.session.library import load_timeline, play_video


class SessionPlayer(QDialog):
    """The video plays on a `cer-session-player` thread (at the file's rate) into a
    `FrameBridge` (newest frame only) and a `VideoView`; the timeline's cursor follows.
    A video that cannot be played is said in the view, in `message` and in the title."""

    def __init__(self, folder: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.setWindowTitle(f"Session {self.folder.name}")
        self.setObjectName("sessionPlayer")
        self.bridge = FrameBridge(self)
        self.view = VideoView(self)
        self.view.connect_bridge(self.bridge)
        # The play thread reports a broken video through the bridge: shown on the GUI thread.
        self.bridge.statusChanged.connect(self._on_status, Qt.ConnectionType.QueuedConnection)
        self.message = QLabel("")
        self.message.setObjectName("playerMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00;")
        self.message.hide()
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setYRange(0.0, 1.0)
        self.plot.setLabel("bottom", "seconds")
        self.plot.setLabel("left", "probability")
        self.plot.addLegend(offset=(5, 5), labelTextSize="7pt")
        labels, t, probs = load_timeline(self.folder)
        self.curves = {
            label: self.plot.plot(
                t, probs[:, i], pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2), name=label
            )
            for i, label in enumerate(labels)
        }
        self.time_cursor = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#d00", width=2))
        self.plot.addItem(self.time_cursor)
        left = QVBoxLayout()
        left.addWidget(self.view, 1)
        left.addWidget(self.message)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addWidget(self.plot, 2)
        self.resize(1200, 480)
        self.t_shown = 0.0
        self._t_latest = 0.0
        self._stop = threading.Event()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._move_cursor)
        self._thread = threading.Thread(target=self._play, name="cer-session-player", daemon=True)

    def play(self) -> None:
        self._timer.start()
        self._thread.start()

    def _play(self) -> None:
        def shown(image: np.ndarray, t: float) -> None:
            self._t_latest = t
            self.bridge.deliver(None, image)

        try:
            play_video(self.folder, shown, self._stop)
        except Exception as exc:  # a broken video is said in the title, never raised
            self.bridge.status(f"Cannot play {self.folder.name}: {exc}")

    @Slot(object)
    def _on_status(self, message: object) -> None:
        text = str(getattr(message, "message", message))
        self.message.setText(text)
        self.message.show()
        self.view.clear(text)
        self.setWindowTitle(f"Session {self.folder.name} — cannot play")

    def _move_cursor(self) -> None:
        self.t_shown = self._t_latest
        self.time_cursor.setValue(self.t_shown)

    def stop(self) -> None:
        self._stop.set()
        self._timer.stop()
        if self._thread.is_alive():
            self._thread.join(10.0)

    def done(self, result: int) -> None:  # noqa: D102 - QDialog override
        self.stop()
        super().done(result)
