"""`cer annotate --shard K/N`: a deterministic split of the inputs over N machines.

An input belongs to shard `sha1(session name) mod N`: the same input lands in the same shard
on every machine and in every run, whatever else is in the list, so a shard resumes on its
own (inputs already done are skipped as usual).
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class ShardError(ValueError):
    """A `--shard` value that is not K/N with 0 <= K < N."""


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N), K counted from 0 (Slurm: `--array=0-(N-1)`, `$SLURM_ARRAY_TASK_ID/N`)."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError as exc:
        raise ShardError(f"--shard {text!r}: expected K/N, e.g. 0/8") from exc
    if n < 1 or not 0 <= k < n:
        raise ShardError(f"--shard {text!r}: need N >= 1 and 0 <= K < N (K counts from 0)")
    return k, n


def shard_of(name: str, n: int) -> int:
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") % n


def select_shard(items: Sequence[T], names: Sequence[str], k: int, n: int) -> list[T]:
    """The items whose name falls in shard k of n, in their original order."""
    return [item for item, name in zip(items, names, strict=True) if shard_of(name, n) == k]


def add_shard_argument(p: argparse.ArgumentParser) -> None:
    """`cer annotate --shard K/N`."""
    p.add_argument("--shard", default=None, help="K/N: annotate only shard K (0..N-1) of N")
