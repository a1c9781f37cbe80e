"""The `cer annotate` command line: arguments, signals, exit codes.

Exit codes: 0 every input annotated (or already done); 1 some input failed (a bad input, or
more frames the recognizer could not label than --max-recognizer-errors); 2 bad arguments
or a model that cannot be used; 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) stopped the
run: the input being annotated was finalised and is annotated again on the next run.
"""

from __future__ import annotations

import argparse
import sys

from cer_desktop.annotate.batch import DEFAULT_LABEL_SET, annotate
from cer_desktop.annotate.stop_signals import stop_on_signals
from cer_desktop.labels import get_label_set
from cer_desktop.session.choice import RecognizerChoice


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cer_desktop.annotate.shards import add_shard_argument

    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, image files, folders")
    p.add_argument("-o", "--out", required=True, help="output folder (one session per input)")
    p.add_argument(
        "--label-set",
        default=None,
        help="label set name (raf_basic, raf_compound, c_expr, ...+neutral) or custom:A,B,C;"
        f" default: the adapter's, else {DEFAULT_LABEL_SET}",
    )
    # --model, --adapter, --quant, --device, --server, --served-model, --model-meta
    RecognizerChoice.add_arguments(p)
    p.add_argument(
        "--concurrency", type=int, default=8, help="HTTP requests in flight (with --server)"
    )
    p.add_argument("--raw", action="store_true", help="also write the raw video")
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="treat image folders as frame sequences at this rate (faces tracked, baselines"
        " learned); default: independent stills, 1 s apart",
    )
    p.add_argument("--max-faces", type=int, default=4)
    p.add_argument(
        "--smoothing",
        type=float,
        default=0.0,
        metavar="S",
        help="smooth each face's probabilities over time as the live view does (0 = off, the"
        " default: the CSV holds the recognizer's own probabilities); recorded in the manifest",
    )
    p.add_argument(
        "--max-recognizer-errors",
        type=int,
        default=0,
        metavar="N",
        help="frames per input the recognizer may fail on (written without labels) before the"
        " input counts as failed and is annotated again by the next run (default 0)",
    )
    add_shard_argument(p)
    p.add_argument("--force", action="store_true", help="annotate inputs already done again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from cer_desktop.contracts import RecognizerError
    from cer_desktop.labels import LabelSetError

    try:
        label_set = get_label_set(args.label_set) if args.label_set else None
    except LabelSetError as exc:
        print(f"cer annotate: {exc}", file=sys.stderr)
        return 2
    from cer_desktop.annotate.shards import parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard else None
        choice = RecognizerChoice.from_args(args)
        spec = choice.to_spec() if choice is not None else None
    except (ValueError, RecognizerError) as exc:
        print(f"cer annotate: {exc}", file=sys.stderr)
        return 2
    if not 0.0 <= args.smoothing <= 0.99 or args.max_recognizer_errors < 0:
        print("cer annotate: need 0 <= --smoothing <= 0.99, --max-recognizer-errors >= 0",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        with stop_on_signals() as stop:
            summary = annotate(
                args.inputs,
                args.out,
                label_set=label_set,
                model_spec=spec,
                record_raw=args.raw,
                fps=args.fps,
                max_faces=args.max_faces,
                force=args.force,
                progress=not args.no_progress,
                echo=lambda s: print(s, file=sys.stderr),
                stop=stop,
                shard=shard,
                smoothing=args.smoothing,
                max_recognizer_errors=args.max_recognizer_errors,
            )
    except RecognizerError as exc:
        print(f"cer annotate: the model cannot be used: {exc}", file=sys.stderr)
        return 2
    print(summary.table())
    if stop.signum is not None:
        return 128 + stop.signum  # the shell's convention for "ended by this signal"
    return 1 if summary.failed else 0
