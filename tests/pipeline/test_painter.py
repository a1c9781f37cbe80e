"""The one painter: draws in the box, differs between labels, marks carried-over labels."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.contracts import Annotation, FaceAnnotation, Frame, Prediction, QualityFlags
from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.painter import paint
from cer_desktop.testing.fakes import FixedRecognizer, make_face

BOX = (200, 120, 200, 200)


def annotation(
    image: np.ndarray, pred: Prediction | None, fresh: bool = True, quality=None
) -> Annotation:
    frame = Frame(1, 0.0, datetime.now(UTC), image)
    face = make_face(1, 0, BOX, quality=quality)
    return Annotation(frame, (FaceAnnotation(face, pred, fresh),), RAF_BASIC)


def predict(top: str, p: float = 0.8, threshold: float = 0.0) -> Prediction:
    base = FixedRecognizer(top, p).predict([make_face(1)], RAF_BASIC)[0]
    return Prediction(0, 1, RAF_BASIC, base.probs, threshold=threshold)


@pytest.fixture
def grey() -> np.ndarray:
    return np.full((480, 640, 3), 90, np.uint8)


def test_paint_draws_in_the_box_region_and_leaves_the_input_alone(grey):
    a = annotation(grey, predict("Happiness"))
    out = paint(a)
    assert out.shape == grey.shape and out.dtype == np.uint8
    x, y, w, h = BOX
    # The box outline itself is drawn
    assert (out[y, x : x + w] != 90).any(), "no box edge drawn on the top side"
    assert (out[y - 30 : y, x : x + w] != 90).any(), "no title drawn above the box"
    assert (out[y + h : y + h + 60, x : x + w] != 90).any(), "no top-3 bars drawn under the box"
    assert (grey == 90).all(), "paint must draw on a copy"
    # Far from the face nothing changes
    assert (out[:60, :100] == 90).all()


def test_labels_paint_differently(grey):
    a = paint(annotation(grey, predict("Happiness")))
    b = paint(annotation(grey, predict("Anger")))
    assert (a != b).any(), "two different labels painted the same pixels"


def test_same_annotation_same_pixels(grey):
    ann = annotation(grey, predict("Fear"))
    assert np.array_equal(paint(ann), paint(ann)), "paint must be a pure function"


def test_carried_over_label_is_marked(grey):
    fresh = paint(annotation(grey, predict("Fear"), fresh=True))
    carried = paint(annotation(grey, predict("Fear"), fresh=False))
    assert (fresh != carried).any(), "carried-over labels need a visible marker"


def test_uncertain_and_quality_warnings_change_the_picture(grey):
    sure = paint(annotation(grey, predict("Fear", 0.3)))
    unsure = paint(annotation(grey, predict("Fear", 0.3, threshold=0.5)))
    assert (sure != unsure).any(), "'uncertain' must look different from a label"
    flagged = paint(annotation(grey, predict("Fear"), quality=QualityFlags(too_small=True)))
    assert (flagged != paint(annotation(grey, predict("Fear")))).any()


def test_grey_bgra_and_no_prediction_do_not_crash():
    g = np.full((480, 640), 50, np.uint8)
    out = paint(annotation(g, None))
    assert out.shape == (480, 640, 3)
    bgra = np.full((480, 640, 4), 50, np.uint8)
    assert paint(annotation(bgra, predict("Sadness"))).shape == (480, 640, 3)


def test_face_at_the_frame_edge_is_clipped_not_crashing(grey):
    frame = Frame(1, 0.0, datetime.now(UTC), grey)
    face = make_face(1, 3, (560, 420, 200, 200))
    ann = Annotation(
        frame, (FaceAnnotation(face, predict("Fear"), True),), RAF_BASIC, message="hello"
    )
    out = paint(ann, show_aus=True)
    assert out.shape == grey.shape
