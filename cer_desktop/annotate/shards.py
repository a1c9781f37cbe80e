"""`cer annotate --shard K/N` (a deterministic split of the inputs over N machines) and --server.

An input belongs to shard `sha1(session name) mod N`: the same input lands in the same shard
on every machine and in every run, whatever else is in the list, so a shard resumes on its
own (inputs already done are skipped as usual).
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from typing import Any, TypeVar

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


def add_remote_arguments(p: argparse.ArgumentParser) -> None:
    """`cer annotate`'s options for a remote server and for sharding."""
    p.add_argument("--server", default=None, help="OpenAI-compatible server URL (e.g. vLLM)")
    p.add_argument("--served-model", default=None, help="the model name the server serves")
    p.add_argument(
        "--concurrency", type=int, default=8, help="HTTP requests in flight (with --server)"
    )
    p.add_argument(
        "--model-meta",
        default="",
        metavar="PATH",
        help="the served model's cer_adapter.json (or its folder; cer export --merge writes it): "
        "its prompt, crop size and label set",
    )
    p.add_argument("--shard", default=None, help="K/N: annotate only shard K (0..N-1) of N")


def remote_options(args: argparse.Namespace) -> tuple[Any, tuple[int, int] | None]:
    """(a `ServerConfig` or None, the shard or None); raises ValueError/RemoteError."""
    shard = parse_shard(args.shard) if args.shard else None
    if not (args.server or args.served_model):
        return None, shard
    from cer_desktop.recognition.remote.client import ServerConfig

    if args.model:
        raise ValueError("--server and --model exclude each other")
    return ServerConfig(
        args.server or "",
        args.served_model or "",
        in_flight=args.concurrency,
        model_meta=args.model_meta or "",
    ), shard
