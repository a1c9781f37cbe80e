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
    "pipeline": "cer_desktop.bench.pipeline",
    "lvlm": "cer_desktop.bench.lvlm",
    "record": "cer_desktop.bench.record",
    "soak": "cer_desktop.bench.soak",
    "train": "cer_desktop.bench.train",
    "vision": "cer_desktop.bench.vision",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="run a benchmark (prints one JSON object last)")
    bench_sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module in BENCHES.items():
        bp = bench_sub.add_parser(name, help=f"the {name} benchmark")
        bp.add_argument("--json", action="store_true", help="print only the JSON object on stdout")
        importlib.import_module(module).add_arguments(bp)
        bp.set_defaults(func=_run, bench_module=module, bench_name=name)


def machine() -> dict[str, Any]:
    import os

    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _run(args: argparse.Namespace) -> int:
    result = importlib.import_module(args.bench_module).run(args)
    result = {"bench": args.bench_name, **result, **machine()}
    if not args.json:
        for key, value in result.items():
            print(f"{key:>32}: {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0
