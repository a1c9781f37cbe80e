"""Label sets the recognizers score over, spelled as the data sets ship them."""

from __future__ import annotations

from dataclasses import dataclass

NEUTRAL = "Neutral"
UNCERTAIN = "uncertain"


class LabelSetError(ValueError):
    """A label set that cannot be used (empty, duplicate or blank labels, unknown name)."""


@dataclass(frozen=True, slots=True)
class LabelSet:
    """A closed set of labels; `name` is the id written to CSVs and adapter metadata."""

    name: str
    labels: tuple[str, ...]
    title: str = ""

    def __post_init__(self) -> None:
        if not self.labels:
            raise LabelSetError(f"label set {self.name!r} has no labels")
        seen: set[str] = set()
        for label in self.labels:
            if not isinstance(label, str) or not label.strip():
                raise LabelSetError(f"label set {self.name!r} has an empty label")
            key = label.strip().lower()
            if key in seen:
                raise LabelSetError(f"label set {self.name!r} lists {label!r} twice")
            seen.add(key)

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        """Index of `label`, matched case-insensitively and with `_`/space folded."""
        key = _fold(label)
        for i, lab in enumerate(self.labels):
            if _fold(lab) == key:
                return i
        raise LabelSetError(f"{label!r} is not a label of {self.name!r}: {', '.join(self.labels)}")

    @property
    def has_neutral(self) -> bool:
        return any(_fold(lab) == _fold(NEUTRAL) for lab in self.labels)

    def with_neutral(self) -> LabelSet:
        """The same set plus Neutral, for an honest 'no compound' outcome."""
        if self.has_neutral:
            return self
        return LabelSet(f"{self.name}+neutral", (*self.labels, NEUTRAL), f"{self.title} + Neutral")


def _fold(label: str) -> str:
    return label.strip().replace("_", " ").lower()


# RAF-DB basic, in the data set's id order (1..7).
RAF_BASIC = LabelSet(
    "raf_basic",
    ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"),
    "RAF-DB basic (7)",
)
# RAF-DB compound, in the data set's id order (1..11).
RAF_COMPOUND = LabelSet(
    "raf_compound",
    (
        "Happily Surprised",
        "Happily Disgusted",
        "Sadly Fearful",
        "Sadly Angry",
        "Sadly Surprised",
        "Sadly Disgusted",
        "Fearfully Angry",
        "Fearfully Surprised",
        "Angrily Surprised",
        "Angrily Disgusted",
        "Disgustedly Surprised",
    ),
    "RAF-DB compound (11)",
)
# C-EXPR-DB (ABAW), index 0..6 in this order; spelled with spaces (the file uses underscores).
C_EXPR = LabelSet(
    "c_expr",
    (
        "Fearfully Surprised",
        "Happily Surprised",
        "Sadly Surprised",
        "Disgustedly Surprised",
        "Angrily Surprised",
        "Sadly Fearful",
        "Sadly Angry",
    ),
    "C-EXPR-DB (7)",
)

BUILTIN: dict[str, LabelSet] = {
    s.name: s
    for s in (RAF_BASIC, RAF_COMPOUND, C_EXPR, RAF_COMPOUND.with_neutral(), C_EXPR.with_neutral())
}


def get_label_set(name: str) -> LabelSet:
    """A built-in label set by name, or a custom one given as `custom:A,B,C`."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name.startswith("custom:"):
        labels = tuple(x.strip() for x in name[len("custom:") :].split(","))
        return LabelSet(name, labels, "custom")
    raise LabelSetError(
        f"unknown label set {name!r}; choose one of {', '.join(BUILTIN)} or custom:A,B,C"
    )
