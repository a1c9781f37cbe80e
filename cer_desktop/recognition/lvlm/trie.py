"""The labels' answer tokens as a trie: which distributions the closed-set scorer needs.

A label's score needs the distribution after the prompt and after each proper prefix of its
answer tokens; labels that share prefixes ("Happily …") share those distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cer_desktop.contracts import RecognizerError


class ScoringError(RecognizerError):
    """The model could not score the faces (bad input, out of memory, unsupported model)."""


@dataclass(frozen=True)
class LabelTrie:
    """The labels' answer tokens, with the distinct prefixes the scorer needs distributions for."""

    sequences: tuple[tuple[int, ...], ...]  # per label: answer tokens + end-of-answer
    rows: tuple[tuple[int, ...], ...]  # continuation rows: sequences minus last token, deduplicated
    prefixes: tuple[tuple[int, ...], ...]  # distinct non-empty prefixes that need a distribution
    where: tuple[tuple[int, int], ...]  # per prefix: (row, position) whose output predicts after it

    @classmethod
    def build(cls, sequences: Sequence[Sequence[int]]) -> LabelTrie:
        seqs = tuple(tuple(int(t) for t in s) for s in sequences)
        if any(not s for s in seqs):
            raise ScoringError("a label encodes to no tokens")
        if len(set(seqs)) != len(seqs):
            raise ScoringError("two labels encode to the same tokens")
        bodies = sorted({s[:-1] for s in seqs if len(s) > 1}, key=len, reverse=True)
        rows: list[tuple[int, ...]] = []
        for b in bodies:  # longest first: a body that prefixes a kept row needs no row
            if not any(r[: len(b)] == b for r in rows):
                rows.append(b)
        prefixes = sorted(
            {s[:j] for s in seqs for j in range(1, len(s))}, key=lambda p: (len(p), p)
        )
        where = []
        for p in prefixes:
            r = next(i for i, row in enumerate(rows) if row[: len(p)] == p)
            where.append((r, len(p) - 1))
        return cls(seqs, tuple(rows), tuple(prefixes), tuple(where))
