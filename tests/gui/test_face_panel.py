"""The per-face side panel: top labels as bars, freshness, AU readout, live timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.contracts import Annotation, FaceAnnotation, Frame, Prediction
from cer_desktop.gui.face_panel import FacePanel
from cer_desktop.labels import RAF_BASIC
from cer_desktop.testing.fakes import make_face

IMAGE = np.zeros((48, 64, 3), np.uint8)


def annotation(frame_id: int, t: float, faces) -> Annotation:
    frame = Frame(frame_id, 100.0 + t, datetime.now(UTC), IMAGE)
    return Annotation(frame, tuple(faces), RAF_BASIC, t_session=t)


def face(frame_id: int, track: int, top: str, p: float, *, fresh=True, age=0.0, computed_on=None):
    n = len(RAF_BASIC.labels)
    probs = tuple(p if lab == top else (1 - p) / (n - 1) for lab in RAF_BASIC.labels)
    pred = Prediction(
        track,
        frame_id if computed_on is None else computed_on,
        RAF_BASIC,
        probs,
        au={"AU12": 2.5, "AU06": 1.0},
        recognizer="lvlm",
    )
    return FaceAnnotation(make_face(frame_id, track), pred, fresh, age)


@pytest.fixture
def panel(qtbot):
    p = FacePanel(redraw_s=0.0)
    qtbot.addWidget(p)
    return p


def test_bars_freshness_and_au_readout_describe_the_face(panel):
    # Given a face whose label was computed 3 frames (100 ms) before the shown frame
    panel.show_annotation(
        annotation(10, 1.0, [face(10, 7, "Happiness", 0.7, fresh=False, age=100.0, computed_on=7)])
    )
    # Then the bars rank the labels, the age is said, and the AUs are listed beside the video
    (name0, bar0), (name1, bar1), _ = panel.bars
    assert name0.text() == "Happiness" and bar0.value() == 70
    assert bar1.value() == 5, "the rest share 30 % over 6 labels"
    assert panel.freshness_label.text() == "label 100 ms old (3 frames)"
    lines = panel.au_label.text().splitlines()
    assert lines[0].startswith("AU06") and lines[1].startswith("AU12") and "█████" in lines[1]
    # When the next label is from the frame itself
    panel.show_annotation(annotation(11, 1.03, [face(11, 7, "Fear", 0.9)]))
    assert panel.freshness_label.text() == "label from this frame"
    assert panel.bars[0][0].text() == "Fear"


def test_the_timeline_keeps_the_last_window_of_probabilities(panel):
    # Given 40 s of one face at 2 frames per second, Happiness rising
    for i in range(80):
        t = i * 0.5
        panel.show_annotation(annotation(i, t, [face(i, 1, "Happiness", 0.2 + 0.01 * i)]))
    # Then the Happiness curve holds the last 30 s only, in seconds before now
    xs, ys = panel.curves["Happiness"].getData()
    assert len(xs) == 61, len(xs)
    assert xs[0] == pytest.approx(-30.0) and xs[-1] == pytest.approx(0.0)
    assert ys[-1] == pytest.approx(0.2 + 0.79)
    assert set(panel.curves) == set(RAF_BASIC.labels)


def test_each_face_has_its_own_history_and_can_be_chosen(panel):
    for i in range(5):
        panel.show_annotation(
            annotation(i, i * 0.1, [face(i, 1, "Anger", 0.6), face(i, 2, "Surprise", 0.8)])
        )
    assert [panel.face_combo.itemData(i) for i in range(panel.face_combo.count())] == [1, 2]
    assert panel.bars[0][0].text() == "Anger"
    panel.face_combo.setCurrentIndex(1)
    panel.show_annotation(
        annotation(5, 0.5, [face(5, 1, "Anger", 0.6), face(5, 2, "Surprise", 0.8)])
    )
    assert panel.bars[0][0].text() == "Surprise"
    xs, ys = panel.curves["Surprise"].getData()
    assert len(xs) == 6 and ys[-1] == pytest.approx(0.8)
    # When face 1 leaves, its history goes with it
    panel.show_annotation(annotation(6, 0.6, [face(6, 2, "Surprise", 0.8)]))
    assert panel.face_combo.count() == 1 and 1 not in panel._history


def test_a_long_run_of_timeline_redraws_keeps_the_references_to_none(panel):
    # The live timeline redraws (pyqtgraph) many times a second for as long as the app runs;
    # with a binding that drops references to None (PySide6 6.12.0 on Python 3.11) the process
    # aborted after ~35 s. 600 redraws must leave None's count where it was.
    import sys

    panel.show()
    before = sys.getrefcount(None)
    for i in range(600):
        top = "Happiness" if i % 2 else "Fear"
        panel.show_annotation(annotation(i, i / 30, [face(i, 1, top, 0.6 + 0.3 * np.sin(i))]))
    lost = before - sys.getrefcount(None)
    assert lost < 100, f"600 face-panel redraws dropped {lost} references to None"
