"""The `cer` command line: annotate, recover, report, train, eval, data, models, bench, doctor.

Subcommands live with the layer they drive; each layer's `commands` module registers its own
parsers. Heavy libraries are imported only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from cer_desktop import __version__
from cer_desktop.extras import MissingExtraError, extra_for_module

# Each module defines `register(subparsers)`; its parsers set `func(args) -> int`.
COMMAND_MODULES = (
    "cer_desktop.annotate.commands",  # annotate
    "cer_desktop.recording.commands",  # recover, report
    "cer_desktop.training.commands",  # train, eval, data
    "cer_desktop.recognition.lvlm.commands",  # models
    "cer_desktop.recognition.lvlm.export",  # export --merge
    "cer_desktop.bench.commands",  # bench
    "cer_desktop.doctor",  # doctor
)
# Commands that need more than the `lvlm` extra when their modules are missing.
COMMAND_EXTRAS = {"train": "train", "eval": "train", "bench train": "train"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cer",
        description="Compound facial expression recognition: annotate, train, evaluate, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"cer-desktop {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # A command that parses its own options (`cer bench NAME ...`) gets the unknown words.
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_rest", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # one INFO line per HTTP request would drown `cer models pull`'s progress bar
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MissingExtraError as exc:
        print(f"cer {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # A command of an extra run on the light core: name the extra, not a traceback.
        module = exc.name or ""
        extra = extra_for_module(module)
        if extra is None:
            raise
        name = args.command + (f" {args.bench}" if args.command == "bench" else "")
        missing = MissingExtraError(f"`cer {name}`", COMMAND_EXTRAS.get(name, extra), [module])
        print(f"cer {args.command}: {missing}", file=sys.stderr)
        return 2
