"""The live view: shows the newest painted frame, handed over by a queued Qt signal."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(painted: np.ndarray) -> QImage:
    """An RGB uint8 (H, W, 3) array as a QImage that owns its pixels (safe across threads)."""
    a = np.ascontiguousarray(painted)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    # .copy() detaches the QImage from the numpy buffer, which may be freed after this call.
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class FrameBridge(QObject):
    """Carries painted frames from the pipeline's display thread to the GUI thread.

    `deliver()` runs on the pipeline's display thread: it builds the QImage there (off the
    GUI thread, as Qt's mandelbrot example does) and emits `frameReady` through a queued
    connection. Policy NEWEST_ONLY: while one frame waits for the GUI thread, a newer one
    replaces it instead of queueing another signal (counted in `replaced`).
    """

    frameReady = Signal()  # noqa: N815 - Qt naming
    statusChanged = Signal(object)  # noqa: N815 - carries a contracts.StatusEvent

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._image: QImage | None = None
        self._frame_id = -1
        self._annotation: object = None
        self.shown_annotation: object = None  # the annotation of the frame last taken (GUI)
        self.replaced = 0
        self.delivered = 0

    def deliver(self, annotation: object, painted: np.ndarray) -> None:
        image = to_qimage(painted)
        frame_id = getattr(getattr(annotation, "frame", None), "frame_id", -1)
        with self._lock:
            pending = self._image is not None
            if pending:
                self.replaced += 1
            self._image = image
            self._frame_id = frame_id
            self._annotation = annotation
            self.delivered += 1
        if not pending:
            self.frameReady.emit()

    def take(self) -> tuple[QImage | None, int]:
        """The newest waiting frame (GUI thread), or None."""
        with self._lock:
            image, self._image = self._image, None
            if image is not None:
                self.shown_annotation = self._annotation
            return image, self._frame_id

    def status(self, event: object) -> None:
        """Thread-safe: forwards a `StatusEvent` (pipeline, recorder, recovery) to the GUI
        thread."""
        self.statusChanged.emit(event)


class VideoView(QWidget):
    """Draws the newest frame scaled to fit, keeping its aspect ratio."""

    framesShown = Signal(int)  # noqa: N815 - frame id of the frame just shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._bridge: FrameBridge | None = None
        self._placeholder = "No video"
        self.shown = 0
        self.last_frame_id = -1
        self.on_shown: Callable[[], None] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(640, 480)

    def connect_bridge(self, bridge: FrameBridge) -> None:
        """Show the frames `bridge` carries (a queued connection: slots run in the GUI thread)."""
        self._bridge = bridge
        bridge.frameReady.connect(self._on_frame_ready, Qt.ConnectionType.QueuedConnection)

    @Slot()
    def _on_frame_ready(self) -> None:
        if self._bridge is None:
            return
        image, frame_id = self._bridge.take()
        if image is None:
            return
        self.set_image(image, frame_id)

    def set_image(self, image: QImage, frame_id: int = -1) -> None:
        """Show `image` (GUI thread only: QPixmap lives there)."""
        self._pixmap = QPixmap.fromImage(image)
        self.shown += 1
        self.last_frame_id = frame_id
        self.update()
        if self.on_shown is not None:
            self.on_shown()
        self.framesShown.emit(frame_id)

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def clear(self, placeholder: str = "No video") -> None:
        self._pixmap = None
        self._placeholder = placeholder
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(20, 20, 20))
        if self._pixmap is None or self._pixmap.isNull():
            p.setPen(QColor(180, 180, 180))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            p.end()
            return
        pw, ph = self._pixmap.width(), self._pixmap.height()
        scale = min(self.width() / pw, self.height() / ph)
        w, h = max(1, int(pw * scale)), max(1, int(ph * scale))
        target = QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawPixmap(target, self._pixmap)
        p.end()
