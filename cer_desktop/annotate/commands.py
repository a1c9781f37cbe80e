"""Registers `cer annotate`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cer_desktop.annotate import batch, cli

    p = sub.add_parser(
        "annotate",
        help="annotate videos, images and folders headless (every frame; resumable)",
        description=f"{batch.__doc__}\n{cli.__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_arguments(p)
    p.set_defaults(func=cli.run)
