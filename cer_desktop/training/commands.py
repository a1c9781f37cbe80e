"""`cer train`, `cer eval` and `cer data` (synth, check): the training layer's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cer_desktop.option_values import DTYPES, QUANTS

FORMATS = ("rafdb", "cexpr", "folder", "csv", "frames")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # --- train
    p = sub.add_parser(
        "train",
        help="train one stage (LoRA/QLoRA) from a YAML recipe",
        description=(
            "Train one stage of the two-stage method from a YAML recipe (sections model, "
            "method, dataset, train). Stage 2 continues stage 1's adapter (model.adapter). "
            "Several GPUs: accelerate launch -m cer_desktop train RECIPE.yaml. Example "
            "recipes: cer train --example stage1|stage2."
        ),
    )
    p.add_argument("recipe", nargs="?", help="recipe YAML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set train.learning_rate=1e-4 (repeatable)",
    )
    p.add_argument("--help-recipe", action="store_true", help="list every recipe key and exit")
    p.add_argument("--example", choices=("stage1", "stage2"), help="print an example recipe")
    p.add_argument(
        "--check",
        action="store_true",
        help="check recipe and data set and prepare the crops, without loading the model",
    )
    p.set_defaults(func=_train)

    # --- eval
    e = sub.add_parser(
        "eval",
        help="evaluate a model/adapter: accuracy, macro-F1, per-class table, confusion PNG",
        description=(
            "Score a data set with a base model and optional adapter through the app's own "
            "scorer (the adapter's prompt, crop size and pixel limits). Compare inputs "
            "(--inputs all: originals, RAF-DB aligned crops, the app's alignment), evaluate a "
            "compound model zero-shot on C-EXPR-DB over its 7 labels (--label-set c_expr), "
            "and write the ABAW prediction file (--abaw)."
        ),
    )
    e.add_argument("--base", required=True, help="base model folder or hub id (cached)")
    e.add_argument("--adapter", help="adapter folder (with cer_adapter.json)")
    e.add_argument("--data", required=True, help="data set folder")
    e.add_argument("--format", choices=FORMATS, default="rafdb", help="data set layout")
    e.add_argument("--annotations", help="labels CSV (cexpr/csv), relative to --data")
    e.add_argument("--split", default="test", help="RAF-DB split (train/test/all)")
    e.add_argument(
        "--label-set",
        help="label set to score over (default: the data set's; c_expr for zero-shot C-EXPR-DB)",
    )
    e.add_argument(
        "--inputs",
        choices=("auto", "original", "aligned", "app", "all"),
        default="auto",
        help=(
            "original: the images as they are; aligned: RAF-DB's aligned crops; app: the "
            "app's MediaPipe alignment; all: the three, compared; auto: what the adapter "
            "was trained on"
        ),
    )
    e.add_argument("--out", help="folder for metrics.json, report.txt, confusion.png, CSV")
    e.add_argument("--abaw", help="write the ABAW prediction file here (C-EXPR-DB labels)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--quant", default="none", choices=QUANTS)
    e.add_argument("--dtype", default="auto", choices=DTYPES)
    e.add_argument("--device", default="auto")
    e.add_argument("--cache-dir", help="aligned-crop cache (default: <data>/.crop_cache)")
    e.add_argument("--limit", type=int, help="evaluate at most this many images")
    e.set_defaults(func=_eval)

    # --- data
    d = sub.add_parser("data", help="synthetic data and data set checks")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    s = dsub.add_parser(
        "synth",
        help="write the synthetic expression data set (RAF-DB and C-EXPR-DB layouts)",
        description=(
            "Draw expression faces procedurally: basic/ and compound/ in the RAF-DB layout "
            "('filled' style) and cexpr/ in the C-EXPR-DB layout ('sketch' style, for a "
            "zero-shot test). MediaPipe's mesh on a drawing is no measurement: train on "
            "them with dataset.align: none (the aligner is bypassed)."
        ),
    )
    s.add_argument("out", help="output folder")
    s.add_argument("--n-train", type=int, default=60, help="training images per class")
    s.add_argument("--n-test", type=int, default=20, help="test images per class")
    s.add_argument("--videos", type=int, default=3, help="C-EXPR-DB videos per class")
    s.add_argument("--frames", type=int, default=5, help="frames per video")
    s.add_argument("--size", type=int, default=64, help="image side in pixels")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_synth)
    c = dsub.add_parser("check", help="read a data set and report every problem (file:line)")
    c.add_argument("root")
    c.add_argument("--format", choices=FORMATS[:-1], default="rafdb")
    c.add_argument("--annotations")
    c.add_argument("--label-set")
    c.add_argument("--split", default="all")
    c.add_argument("--variant", default="aligned", choices=("aligned", "original"))
    c.set_defaults(func=_check)


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _train(args: argparse.Namespace) -> int:
    from importlib import resources

    from cer_desktop.training.datasets import DatasetError
    from cer_desktop.training.recipe import RecipeError, load_recipe

    if args.help_recipe:
        print(recipe_help())
        return 0
    if args.example:
        text = resources.files("cer_desktop.resources.recipes").joinpath(
            f"{args.example}_basic.yaml" if args.example == "stage1" else "stage2_compound.yaml"
        )
        print(text.read_text(encoding="utf-8"))
        return 0
    if not args.recipe:
        return _err("give a recipe file (cer train RECIPE.yaml), or --help-recipe")
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        if args.check:
            from cer_desktop.training.trainer import prepare_run

            recipe, data, preparer = prepare_run(recipe)
            print(data.summary())
            if preparer.no_face:
                print(f"no face found in {len(preparer.no_face)} images (whole image used)")
            print("recipe and data set OK")
            return 0
        from cer_desktop.training.trainer import TrainingError, train

        try:
            result = train(recipe)
        except TrainingError as exc:
            return _err(str(exc))
    except (RecipeError, DatasetError) as exc:
        return _err(str(exc))
    import os

    if int(os.environ.get("RANK", "0")) == 0:  # one report under accelerate/torchrun
        print(json.dumps(result.as_dict(), indent=2))
        print(f"adapter written to {result.adapter_dir}")
    return 0


def _read_eval_data(args: argparse.Namespace, variant: str, label_set_name: str | None):  # noqa: ANN202
    from cer_desktop.labels import C_EXPR, get_label_set
    from cer_desktop.training.datasets import rafdb_label_set, read_dataset
    from cer_desktop.training.evaluate import read_frames

    root = Path(args.data)
    if args.format == "frames":
        return read_frames(root, get_label_set(label_set_name) if label_set_name else C_EXPR)
    if args.format == "rafdb":
        data_ls = rafdb_label_set(root)
    elif args.format == "cexpr":
        data_ls = C_EXPR
    else:
        if not label_set_name:
            raise SystemExit(_err(f"--label-set is required for format {args.format}"))
        data_ls = get_label_set(label_set_name)
    return read_dataset(
        args.format,
        root,
        label_set=data_ls,
        split=None if args.split in ("all", "") else args.split,
        variant=variant,
        annotations=args.annotations,
    )


def _eval(args: argparse.Namespace) -> int:
    from cer_desktop.contracts import RecognizerError
    from cer_desktop.labels import LabelSetError, get_label_set
    from cer_desktop.training.datasets import DatasetError, ImagePreparer
    from cer_desktop.training.evaluate import (
        INPUTS,
        evaluate,
        load_model,
        write_abaw,
        write_outputs,
    )

    try:
        loaded = load_model(
            args.base, args.adapter, quant=args.quant, dtype=args.dtype, device=args.device
        )
    except RecognizerError as exc:
        return _err(str(exc))
    meta = loaded.metadata
    inputs = args.inputs
    if inputs == "auto":
        trained_aligned = meta is not None and meta.alignment != "none"
        inputs = "app" if trained_aligned else "aligned"
    wanted = list(INPUTS) if inputs == "all" else [inputs]
    if args.format != "rafdb":
        # only RAF-DB ships two variants; elsewhere "original" and "aligned" both mean as-is
        wanted = list(dict.fromkeys("app" if w == "app" else "original" for w in wanted))
    cache = args.cache_dir or str(Path(args.data) / ".crop_cache")
    results = []
    try:
        for w in wanted:
            variant, align = INPUTS[w]
            data = _read_eval_data(args, variant, args.label_set)
            if args.limit:
                data.samples = data.samples[: args.limit]
            ls = get_label_set(args.label_set) if args.label_set else data.label_set
            preparer = ImagePreparer(align, loaded.crop_size, cache if align == "app" else None)
            res = evaluate(
                loaded,
                data,
                preparer,
                label_set=ls,
                batch_size=args.batch_size,
                inputs=w,
                progress=True,
            )
            results.append(res)
            print(f"== {data.summary()} | inputs: {w} | scored over {ls.name}")
            if res.no_face:
                print(f"   no face found in {res.no_face} images (whole image used)")
            if res.report is not None:
                print(res.report.table())
            if args.out:
                out = Path(args.out) / w if len(wanted) > 1 else Path(args.out)
                files = write_outputs(res, out, title=f"{ls.name}, inputs {w}")
                print("   wrote " + ", ".join(str(f) for f in files.values()))
            if args.abaw:
                print(f"   ABAW file: {write_abaw(res, args.abaw)}")
    except (DatasetError, LabelSetError, ValueError) as exc:
        return _err(str(exc))
    except RecognizerError as exc:
        return _err(str(exc))
    if len(results) > 1:
        print("\ninputs      accuracy  macro-F1")
        for r in results:
            if r.report is not None:
                print(f"{r.inputs:<10}  {r.report.accuracy:8.4f}  {r.report.macro_f1:8.4f}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from cer_desktop.training.synthetic import write_synthetic

    counts = {"--n-train": args.n_train, "--n-test": args.n_test, "--videos": args.videos}
    counts |= {"--frames": args.frames}
    for flag, n in counts.items():
        if n < 1:
            return _err(f"{flag} must be at least 1, got {n}")
    paths = write_synthetic(
        args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        n_zero_shot_videos=args.videos,
        frames_per_video=args.frames,
        size=args.size,
        seed=args.seed,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    print(
        "note: MediaPipe's landmarks on drawn faces are no measurement; train on them with "
        "dataset.align: none (the aligner is bypassed)"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from cer_desktop.labels import C_EXPR, LabelSetError, get_label_set
    from cer_desktop.training.datasets import DatasetError, rafdb_label_set, read_dataset

    root = Path(args.root)
    try:
        if args.label_set:
            ls = get_label_set(args.label_set)
        elif args.format == "rafdb":
            ls = rafdb_label_set(root)
        elif args.format == "cexpr":
            ls = C_EXPR
        else:
            return _err(f"--label-set is required for format {args.format}")
        data = read_dataset(
            args.format,
            root,
            label_set=ls,
            split=None if args.split == "all" else args.split,
            variant=args.variant,
            annotations=args.annotations,
        )
    except (DatasetError, LabelSetError) as exc:
        return _err(str(exc))
    print(data.summary())
    return 0


def recipe_help() -> str:
    """Every recipe key with its default and help, by section (for `--help-recipe`)."""
    import dataclasses

    from cer_desktop.training.recipe import SECTIONS

    lines = []
    for section, cls in SECTIONS.items():
        lines.append(f"{section}:  # {cls.__doc__}")
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:  # every field is declared with _f, which always gives a default
                raise TypeError(f"{cls.__name__}.{f.name} has no default")
            lines.append(f"  {f.name}: {json.dumps(default)}  # {f.metadata.get('help', '')}")
    return "\n".join(lines)
