"""What the window tests share: synthetic frames, a recording source factory, the window
fixture (`make_window`, registered in conftest.py; it fails a test that leaves any new thread
running, thread_check.py), a thread check."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtGui import QImage
from thread_check import leaked_threads, threads_now

from cer_desktop.capture.base import SourceError
from cer_desktop.gui.main_window import MainWindow
from cer_desktop.settings import AppSettings
from cer_desktop.testing.fakes import FakeAnalyzer, FixedRecognizer, ListSource, synthetic_frames

FRAMES = synthetic_frames(20)


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cer-") and t.is_alive()]


def qimage_to_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


class Sources:
    """A source factory that records the specs asked for; "bad" specs fail like a missing camera."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def __call__(self, spec: str):
        self.specs.append(spec)
        if spec.startswith("camera:9"):
            raise SourceError(f"camera {spec} does not exist")
        return ListSource(FRAMES, fps=30.0, live=True, loop=True, description=spec)


@pytest.fixture
def make_window(qtbot):
    before = threads_now()
    made: list[MainWindow] = []

    def make(settings: AppSettings | None = None, cameras=None, **kw) -> MainWindow:
        kw.setdefault("source_factory", Sources())
        kw.setdefault("analyzer_factory", lambda n, crop: FakeAnalyzer())
        kw.setdefault("recognizer", FixedRecognizer(top="Happily Surprised", name="fixed"))
        w = MainWindow(
            settings or AppSettings(source="demo"), cameras=[] if cameras is None else cameras, **kw
        )
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()
    left = leaked_threads(before)
    assert left == [], f"threads left running: {left}"
