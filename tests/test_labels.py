"""Label sets: spellings, lookup, validation and the +Neutral variants."""

from __future__ import annotations

import pytest

from cer_desktop.labels import (
    C_EXPR,
    RAF_BASIC,
    RAF_COMPOUND,
    LabelSet,
    LabelSetError,
    get_label_set,
)


def test_builtin_sets_follow_the_data_sets_id_order() -> None:
    assert RAF_BASIC.labels[0] == "Surprise" and RAF_BASIC.labels[6] == "Neutral"
    assert len(RAF_COMPOUND) == 11 and RAF_COMPOUND.labels[10] == "Disgustedly Surprised"
    assert C_EXPR.labels[0] == "Fearfully Surprised" and C_EXPR.labels[6] == "Sadly Angry"


def test_index_folds_case_and_underscores() -> None:
    # C-EXPR-DB's files spell labels with underscores.
    assert C_EXPR.index("Sadly_Angry") == 6
    assert RAF_COMPOUND.index("happily surprised") == 0
    with pytest.raises(LabelSetError, match="not a label"):
        C_EXPR.index("Happily Disgusted")


@pytest.mark.parametrize(
    "labels, message",
    [((), "no labels"), (("Happy", " "), "empty label"), (("Happy", "happy"), "twice")],
)
def test_bad_label_sets_are_refused_with_a_reason(labels: tuple[str, ...], message: str) -> None:
    with pytest.raises(LabelSetError, match=message):
        LabelSet("mine", labels)


def test_with_neutral_adds_neutral_once() -> None:
    plus = RAF_COMPOUND.with_neutral()
    assert plus.labels[-1] == "Neutral" and len(plus) == 12 and plus.has_neutral
    assert RAF_BASIC.with_neutral() is RAF_BASIC
    assert get_label_set("c_expr+neutral").has_neutral


def test_custom_and_unknown_names() -> None:
    custom = get_label_set("custom:Calm, Excited")
    assert custom.labels == ("Calm", "Excited")
    with pytest.raises(LabelSetError, match="unknown label set"):
        get_label_set("emotions")
    with pytest.raises(LabelSetError, match="twice"):
        get_label_set("custom:A,a")
