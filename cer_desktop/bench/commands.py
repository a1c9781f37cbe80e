"""`cer bench NAME [--json]`: run one benchmark; the last line of output is its JSON object."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from datetime import UTC, datetime
from typing import Any

# name -> module with `add_arguments(parser)` and `run(args) -> dict`
BENCHES = {
    "faults": "cer_desktop.bench.faults",
    "instant": "cer_desktop.bench.instant",
    "pipeline": "cer_desktop.bench.pipeline",
    "lvlm": "cer_desktop.bench.lvlm",
    "record": "cer_desktop.bench.record",
    "soak": "cer_desktop.bench.soak",
    "train": "cer_desktop.bench.train",
    "vision": "cer_desktop.bench.vision",
    "remote": "cer_desktop.bench.remote",
    "streams": "cer_desktop.bench.streams",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="run a benchmark (prints one JSON object last)")
    bench_sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module in BENCHES.items():
        # A benchmark's options come from its module, imported only when that benchmark
        # runs: `cer bench lvlm` needs torch, `cer annotate` on the light core must not.
        # The words after NAME reach `_run` as `args.rest` (cli.main, `passes_rest`).
        bp = bench_sub.add_parser(
            name, help=f"the {name} benchmark (`cer bench {name} --help`)", add_help=False
        )
        bp.set_defaults(func=_run, bench_module=module, bench_name=name, passes_rest=True)


def bench_parser(name: str) -> tuple[argparse.ArgumentParser, Any]:
    """The parser of `cer bench NAME` and its module (imported here, with its libraries)."""
    module = importlib.import_module(BENCHES[name])
    bp = argparse.ArgumentParser(
        prog=f"cer bench {name}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bp.add_argument("--json", action="store_true", help="print only the JSON object on stdout")
    module.add_arguments(bp)
    return bp, module


def machine() -> dict[str, Any]:
    import os

    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _run(args: argparse.Namespace) -> int:
    bp, module = bench_parser(args.bench_name)
    args = bp.parse_args(getattr(args, "rest", []), namespace=args)
    result = module.run(args)
    result = {"bench": args.bench_name, **result, **machine()}
    if not args.json:
        for key, value in result.items():
            print(f"{key:>32}: {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0
