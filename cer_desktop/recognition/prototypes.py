"""Du, Tao & Martinez (2014) action-unit prototypes and the mapping from AU evidence to label scores.

Scoring (documented here once; `PrototypeScorer` implements it)
---------------------------------------------------------------
Each label has a prototype: *core* AUs (seen in most people making that expression) and
*partial* AUs (seen in some), from Du, Tao & Martinez, PNAS 2014 (table in docs/architecture.md). AU
evidence ``e_a`` is the measured intensity divided by 5, so 0..1. For a label ``c``:

* support(c) = (sum of e over core AUs + 0.5 * sum over partial AUs) / (n_core + 0.5 * n_partial)
  -- the weighted *mean* evidence of the prototype, so a label whose core AUs are all clearly
  present scores near 1 whatever its number of AUs, and a missing core AU costs its share;
* gate(c) = min(1, strongest e among the prototype's *required* AUs / 0.4), 1 when it
  requires none -- Happiness and the "Happily ..." compounds require the smile (AU12), so an
  open mouth alone (AU25, AU26) cannot make a face happy;
* conflict(c) = sum of e over the measured AUs that are *not* in the prototype -- strong
  movements the expression does not explain;
* logit(c) = gate(c) * support(c) - 0.5 * conflict(c).

Neutral (when the label set has it) is the absence of movement: logit = 0.25 - max_a e_a, so
it wins while every AU stays below about a quarter of its full intensity and drops out as soon
as any AU is clear. Probabilities are ``softmax(logit / 0.1)`` over the label set. AUs the
geometry does not measure (AU11 in Sadness) are left out of the prototypes rather than
counted as absent.

Label sets: every label of RAF-DB basic, RAF-DB compound and C-EXPR-DB (with or without Neutral)
has a prototype; a custom set works when each of its labels is one of those names or a common
alias ("happy", "sad", "angry", "surprised", "fearful", "disgusted", "neutral", case and
`_` ignored). A label without a prototype raises `UnknownLabelError` (a `RecognizerError`):
the instant recognizer refuses rather than invent a uniform answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cer_desktop.contracts import RecognizerError
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.au import AU_NAMES


@dataclass(frozen=True, slots=True)
class Prototype:
    """Core and partial AUs (numbers, as in FACS) of one expression category."""

    core: tuple[int, ...]
    partial: tuple[int, ...] = ()
    #: AUs of which at least one must be present for the label to gain support at all
    #: (Happiness needs the smile: an open mouth alone is not happy).
    requires: tuple[int, ...] = ()


# Du, Tao & Martinez 2014, Table 1: core AUs as in docs/architecture.md (Sadly Fearful uses
# the 1, 4, 20, 25 variant); partial AUs are the table's bracketed ones (seen in part of the
# subjects). AU11 is not measured and so not listed. Two additions beyond the table, both
# from Ekman & Friesen's EMFACS: Anger's open-mouthed variants (4+5+7+10+23+25/26: shouting
# anger keeps 25 and 26 from counting against it) and AU41 for Sadness (EMFACS lists eyes
# and head down with it; MediaPipe sees that as the upper lid lowered). "Happily ..."
# labels and Happiness require the smile (AU12): an open mouth alone points elsewhere.
PROTOTYPES: dict[str, Prototype] = {
    "Happiness": Prototype((12, 25), (6,), requires=(12,)),
    "Sadness": Prototype((4, 15), (1, 6, 17, 41)),
    "Fear": Prototype((1, 4, 20, 25), (2, 5, 26)),
    "Anger": Prototype((4, 7, 24), (10, 17, 23, 25, 26)),
    "Surprise": Prototype((1, 2, 25, 26), (5,)),
    "Disgust": Prototype((9, 10, 17), (4, 24)),
    "Neutral": Prototype(()),
    "Happily Surprised": Prototype((1, 2, 12, 25), (5, 26), requires=(12,)),
    "Happily Disgusted": Prototype((10, 12, 25), (4, 6, 9), requires=(12,)),
    "Sadly Fearful": Prototype((1, 4, 20, 25), (2, 5, 6, 15)),
    "Sadly Angry": Prototype((4, 7, 15), (6, 17)),
    "Sadly Surprised": Prototype((1, 4, 25, 26), (2, 6)),
    "Sadly Disgusted": Prototype((4, 10), (1, 6, 9, 15, 17, 25, 26)),
    "Fearfully Angry": Prototype((4, 20, 25), (5, 7, 10)),
    "Fearfully Surprised": Prototype((1, 2, 5, 20, 25), (4, 10, 12, 26)),
    "Angrily Surprised": Prototype((4, 25, 26), (5, 7, 10)),
    "Angrily Disgusted": Prototype((4, 10, 17), (7, 9, 24)),
    "Disgustedly Surprised": Prototype((1, 2, 5, 10), (4, 9, 17, 24)),
}

ALIASES: dict[str, str] = {
    "happy": "Happiness",
    "happiness": "Happiness",
    "joy": "Happiness",
    "sad": "Sadness",
    "sadness": "Sadness",
    "fear": "Fear",
    "fearful": "Fear",
    "afraid": "Fear",
    "anger": "Anger",
    "angry": "Anger",
    "surprise": "Surprise",
    "surprised": "Surprise",
    "disgust": "Disgust",
    "disgusted": "Disgust",
    "neutral": "Neutral",
}

PARTIAL_WEIGHT = 0.5
CONFLICT_WEIGHT = 0.5
NEUTRAL_LEVEL = 0.25
TEMPERATURE = 0.1
GATE_LEVEL = 0.4  # evidence (0..1) at which a required AU fully opens its label's gate

_AU_INDEX = {int(name[2:]): i for i, name in enumerate(AU_NAMES)}


class UnknownLabelError(RecognizerError):
    """A label the instant recognizer has no AU prototype for."""


def _fold(label: str) -> str:
    return " ".join(label.replace("_", " ").split()).lower()


_BY_FOLD = {_fold(name): name for name in PROTOTYPES}


def prototype_for(label: str) -> tuple[str, Prototype]:
    """The canonical category name and prototype of `label` (case, `_` and aliases folded)."""
    key = _fold(label)
    name = _BY_FOLD.get(key) or ALIASES.get(key)
    if name is None:
        raise UnknownLabelError(
            f"the instant recognizer has no action-unit prototype for {label!r}; it knows "
            f"{', '.join(PROTOTYPES)} (choose one of those, or an LVLM recognizer)"
        )
    return name, PROTOTYPES[name]


class PrototypeScorer:
    """Turns AU intensity vectors (`AU_NAMES` order, 0..5) into probabilities over one label set.

    Built once per label set (the weights are a small matrix); `probs` is a few matrix
    products, far below a millisecond.
    """

    def __init__(self, label_set: LabelSet) -> None:
        n_au = len(AU_NAMES)
        k = len(label_set.labels)
        self.label_set = label_set
        self.categories: tuple[str, ...] = tuple(prototype_for(lab)[0] for lab in label_set.labels)
        self._support = np.zeros((k, n_au))
        self._conflict = np.zeros((k, n_au))
        self._neutral = np.zeros(k, dtype=bool)
        self._requires = np.zeros((k, n_au))
        for row, category in enumerate(self.categories):
            proto = PROTOTYPES[category]
            if category == "Neutral":
                self._neutral[row] = True
                continue
            weights = np.zeros(n_au)
            for au in proto.core:
                weights[_AU_INDEX[au]] = 1.0
            for au in proto.partial:
                weights[_AU_INDEX[au]] = PARTIAL_WEIGHT
            self._support[row] = weights / weights.sum()
            for au in proto.requires:
                self._requires[row, _AU_INDEX[au]] = 1.0
            self._conflict[row] = weights == 0

    def logits(self, intensities: np.ndarray) -> np.ndarray:
        """Unnormalised scores (n_faces x n_labels) for AU intensities (n_faces x n_aus)."""
        e = np.clip(np.atleast_2d(np.asarray(intensities, dtype=np.float64)) / 5.0, 0.0, 1.0)
        support = e @ self._support.T
        gated = self._requires.any(axis=1)
        if gated.any():
            # the strongest required AU, saturating at GATE_LEVEL
            strongest = (e[:, None, :] * self._requires[None, gated, :]).max(axis=2)
            support[:, gated] *= np.minimum(1.0, strongest / GATE_LEVEL)
        out = support - CONFLICT_WEIGHT * (e @ self._conflict.T)
        if self._neutral.any():
            out[:, self._neutral] = (NEUTRAL_LEVEL - e.max(axis=1))[:, None]
        return out

    def probs(self, intensities: np.ndarray) -> np.ndarray:
        """Probabilities (n_faces x n_labels), each row summing to 1."""
        z = self.logits(intensities) / TEMPERATURE
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)
