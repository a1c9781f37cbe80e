"""Metrics checked against a small confusion matrix worked out by hand."""

from __future__ import annotations

import pytest

from cer_desktop.training.metrics import confusion_matrix, report, save_confusion_png

# y_true / y_pred over labels A, B, C:
#   true A: predicted A, A, B      true B: predicted B, C      true C: predicted C
# confusion (rows true, columns predicted) = [[2,1,0],[0,1,1],[0,0,1]]
# A: precision 2/2, recall 2/3, F1 0.8 | B: 1/2, 1/2, 0.5 | C: 1/2, 1/1, 2/3
# accuracy 4/6; macro-F1 (0.8 + 0.5 + 2/3) / 3
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_report_matches_hand_computation() -> None:
    rep = report(Y_TRUE, Y_PRED, ["A", "B", "C"])
    assert rep.accuracy == pytest.approx(4 / 6)
    a, b, c = rep.per_class
    assert (a.precision, a.recall, a.f1, a.support) == pytest.approx((1.0, 2 / 3, 0.8, 3))
    assert (b.precision, b.recall, b.f1, b.support) == pytest.approx((0.5, 0.5, 0.5, 2))
    assert (c.precision, c.recall, c.f1, c.support) == pytest.approx((0.5, 1.0, 2 / 3, 1))
    assert rep.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_macro_f1_counts_classes_never_seen_nor_predicted_as_zero() -> None:
    # given a fourth label D absent from both truth and predictions
    rep = report(Y_TRUE, Y_PRED, ["A", "B", "C", "D"])
    # then D scores 0 and pulls the unweighted mean down (ABAW averages over all 7 classes)
    assert rep.per_class[3].f1 == 0.0
    assert rep.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 4)


def test_out_of_range_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix([0, 1], [0], 3)


def test_table_and_png(tmp_path) -> None:
    rep = report(Y_TRUE, Y_PRED, ["A", "B", "C"])
    text = rep.table()
    assert "macro-F1" in text and "0.6556" in text, text
    png = save_confusion_png(rep, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
