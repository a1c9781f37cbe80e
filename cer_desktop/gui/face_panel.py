"""Beside the video, for one face: its top labels as bars, how fresh the shown label is, the
action-unit readout, and a live timeline of the label probabilities (pyqtgraph)."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from cer_desktop.contracts import Annotation, FaceAnnotation

# Distinct, colour-blind friendly pens (Okabe-Ito), repeated for larger label sets.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999",
    "#000000", "#7F3C8D", "#11A579", "#3969AC",
)  # fmt: skip


class FacePanel(QWidget):
    """One face's labels over time. `show_annotation()` is called on the GUI thread with the
    annotation of each shown frame; the timeline keeps the last `window_s` seconds of every
    tracked face and redraws at most every `redraw_s`."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        window_s: float = 30.0,
        n_bars: int = 3,
        redraw_s: float = 0.1,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("facePanel")
        self.window_s = window_s
        self.redraw_s = redraw_s
        self._history: dict[int, deque[tuple[float, tuple[float, ...]]]] = {}
        self._labels: tuple[str, ...] = ()
        self._last_draw = 0.0
        self._t_last = 0.0  # t_session of the newest shown frame
        self.markers: deque[tuple[float, pg.InfiniteLine]] = deque()  # in the timeline
        layout = QVBoxLayout(self)
        self.face_combo = QComboBox()
        self.face_combo.setObjectName("faceCombo")
        self.face_combo.setToolTip("The face this panel describes")
        layout.addWidget(self.face_combo)
        self.recognizer_label = QLabel("no face")
        self.freshness_label = QLabel("")
        self.freshness_label.setObjectName("freshnessLabel")
        self.freshness_label.setToolTip(
            "How old the shown label is: on a slow machine the model's label lags the video"
        )
        layout.addWidget(self.recognizer_label)
        layout.addWidget(self.freshness_label)
        bars = QFormLayout()
        self.bars: list[tuple[QLabel, QProgressBar]] = []
        for _ in range(n_bars):
            name, bar = QLabel("—"), QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bars.addRow(name, bar)
            self.bars.append((name, bar))
        layout.addLayout(bars)
        self.au_label = QLabel("")
        self.au_label.setObjectName("auReadout")
        self.au_label.setFont(QFont("monospace", 9))
        self.au_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.au_label)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("timeline")
        self.plot.setBackground("w")
        self.plot.setYRange(0.0, 1.0)
        self.plot.setXRange(-window_s, 0.0)
        self.plot.setLabel("bottom", "seconds ago")
        self.plot.setLabel("left", "probability")
        self.plot.setMinimumHeight(160)
        self.curves: dict[str, pg.PlotDataItem] = {}
        layout.addWidget(self.plot, 1)
        # The legend below the plot, not over the curves (13 labels would hide them).
        self.legend = QLabel("")
        self.legend.setObjectName("timelineLegend")
        self.legend.setWordWrap(True)
        layout.addWidget(self.legend)
        self.setMinimumWidth(260)

    @property
    def selected_track(self) -> int | None:
        data = self.face_combo.currentData()
        return None if data is None else int(data)

    def show_annotation(self, annotation: Annotation) -> None:
        """Record every face's probabilities and show the selected face."""
        labels = tuple(annotation.label_set.labels)
        if labels != self._labels:
            self._reset_labels(labels)
        t = self._t_last = annotation.t_session
        present = {fa.face.track_id: fa for fa in annotation.faces}
        for tid, fa in present.items():
            if fa.prediction is not None:
                hist = self._history.setdefault(tid, deque())
                hist.append((t, tuple(fa.prediction.probs)))
                while hist and t - hist[0][0] > self.window_s:
                    hist.popleft()
        self._sync_faces(sorted(present))
        selected = self.selected_track
        shown = present.get(selected) if selected is not None else None
        self._show_face(shown, annotation)
        now = time.monotonic()
        if now - self._last_draw >= self.redraw_s:
            self._last_draw = now
            self.redraw(t)

    def add_marker(self, text: str) -> None:
        """A marker (the user's or an experiment's) as a labelled line at the newest frame."""
        line = pg.InfiniteLine(
            0.0, angle=90, pen=pg.mkPen("#444444", style=Qt.PenStyle.DashLine),
            label=text[:24], labelOpts={"position": 0.95, "color": "#444444"},
        )  # fmt: skip
        self.plot.addItem(line)
        self.markers.append((self._t_last, line))

    def redraw(self, t_now: float) -> None:
        """Draw the selected face's history as one curve per label (x: seconds ago)."""
        while self.markers and t_now - self.markers[0][0] > self.window_s:
            self.plot.removeItem(self.markers.popleft()[1])
        for t, line in self.markers:
            line.setValue(t - t_now)
        tid = self.selected_track
        hist = self._history.get(tid) if tid is not None else None
        if not hist:
            for c in self.curves.values():
                c.setData([], [])
            return
        ts = np.fromiter((t - t_now for t, _ in hist), float, len(hist))
        probs = np.asarray([p for _, p in hist], float)
        for i, label in enumerate(self._labels):
            self.curves[label].setData(ts, probs[:, i])

    def clear(self) -> None:
        self._history.clear()
        self._sync_faces([])
        self._show_face(None, None)
        self.redraw(0.0)

    def _reset_labels(self, labels: tuple[str, ...]) -> None:
        self._labels = labels
        self._history.clear()
        for c in self.curves.values():
            self.plot.removeItem(c)
        self.legend.setText(
            " ".join(
                f'<span style="color:{PALETTE[i % len(PALETTE)]}">■</span>&nbsp;{label}'
                for i, label in enumerate(labels)
            )
        )
        self.curves = {
            label: self.plot.plot(
                [], [], pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2), name=label
            )
            for i, label in enumerate(labels)
        }

    def _sync_faces(self, track_ids: list[int]) -> None:
        shown = [self.face_combo.itemData(i) for i in range(self.face_combo.count())]
        if shown == track_ids:
            return
        current = self.selected_track
        self.face_combo.blockSignals(True)
        self.face_combo.clear()
        for tid in track_ids:
            self.face_combo.addItem(f"Face {tid}", tid)
        i = self.face_combo.findData(current) if current is not None else -1
        self.face_combo.setCurrentIndex(i if i >= 0 else (0 if track_ids else -1))
        self.face_combo.blockSignals(False)
        for stale in [k for k in self._history if k not in track_ids]:
            del self._history[stale]

    def _show_face(self, fa: FaceAnnotation | None, annotation: Annotation | None) -> None:
        pred = fa.prediction if fa is not None else None
        if pred is None:
            self.recognizer_label.setText("no face" if fa is None else "waiting for a label…")
            self.freshness_label.setText("")
            for name, bar in self.bars:
                name.setText("—")
                bar.setValue(0)
            self.au_label.setText("")
            return
        top = pred.top_label
        self.recognizer_label.setText(f"<b>{top}</b> · {pred.recognizer}")
        frames = annotation.frame.frame_id - pred.frame_id if annotation is not None else 0
        self.freshness_label.setText(
            "label from this frame"
            if fa is not None and fa.fresh
            else f"label {fa.age_ms if fa is not None else 0.0:.0f} ms old ({frames} frames)"
        )
        for (name, bar), (label, p) in zip(self.bars, pred.ranked(len(self.bars)), strict=False):
            name.setText(label)
            bar.setValue(round(100 * p))
            bar.setFormat(f"{p:.0%}")
        aus = pred.au or {}
        self.au_label.setText(
            "\n".join(f"{k:<5} {v:4.2f} {'█' * round(2 * v)}" for k, v in sorted(aus.items()))
            or "no AU readout from this recognizer"
        )


def dock_face_panel(window: QMainWindow, panel: FacePanel) -> QDockWidget:
    """The face panel in a dock on the window's right (its state is saved with the layout)."""
    dock = QDockWidget("Face", window)
    dock.setObjectName("faceDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock


def add_dock_toggle(window: QMainWindow, dock: QDockWidget, shortcut: str) -> None:
    """Show/hide `dock` from the window's View menu, when it has one."""
    view_menu = window.menuBar().findChild(QMenu, "viewMenu")
    if view_menu is not None:
        toggle = dock.toggleViewAction()
        toggle.setShortcut(shortcut)
        view_menu.addAction(toggle)
