"""Training recipes: typed argument groups read from one YAML file per stage, checked up front.

A recipe has four sections, as LLaMA-Factory's (``### model / ### method / ### dataset /
### train``): either nested mappings (``model: {base: ...}``) or flat keys, each flat key going
to the one group that defines it. Every field carries its own help text (``metadata["help"]``),
which `cer train --help-recipe` prints. Cross-field rules live in `verify_recipe` alone and run
before anything heavy is loaded.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cer_desktop.labels import LabelSetError, get_label_set
from cer_desktop.option_values import VocabularyError, dtype_name, quant_name


class RecipeError(ValueError):
    """A recipe that cannot be trained: unknown keys, bad values, or rules it breaks."""


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, list | dict):

        def copy() -> Any:  # a fresh list or dict for every instance
            return type(default)(default)

        return field(default_factory=copy, metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


FORMATS = ("rafdb", "cexpr", "folder", "csv")
ALIGNS = ("app", "none")
VARIANTS = ("aligned", "original")
# Names a recipe may use in `modules_to_save`, mapped per architecture in `trainer.py`.
MODULE_ALIASES = ("embeddings", "lm_head", "projector", "vision_tower")
ALL_LINEAR = "all-linear"  # lora_target: every linear layer of the decoder layers


@dataclass
class ModelArgs:
    """Which base model to load, how, and which adapter (if any) to continue."""

    base: str = _f("", "Base model: a Hugging Face id or a local folder (image-text-to-text).")
    revision: str | None = _f(None, "Revision (branch, tag or commit) of the base model.")
    quant: str = _f("none", "Quantisation of the base: none (LoRA), nf4 (QLoRA, 4-bit), int8.")
    dtype: str = _f(
        "auto",
        "Compute dtype: auto (what the device computes fastest: bf16 on a GPU or a CPU with "
        "native bf16, else fp32), bf16, fp16 or fp32 (bfloat16, float16, float32 accepted).",
    )
    adapter: str | None = _f(
        None,
        "An adapter folder to continue training (stage 2 continues stage 1's adapter); "
        "it is loaded trainable, never stacked under a new one.",
    )
    local_files_only: bool = _f(True, "Never download: the base must already be on disk.")


@dataclass
class MethodArgs:
    """The fine-tuning method: LoRA on the language model, optionally the vision tower."""

    stage: str = _f("", "Free-form stage name written to the metadata (basic, compound...).")
    create_new_adapter: bool = _f(
        False,
        "Start a new adapter even though model.adapter is given (stacking). Always refused: "
        "continue the existing adapter instead.",
    )
    lora_rank: int = _f(8, "LoRA rank r.")
    lora_alpha: int = _f(16, "LoRA alpha (scale = alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    lora_target: list[str] = _f(
        [ALL_LINEAR],
        "Linear layers of the language model's decoder layers that get LoRA: all-linear (every "
        "one: the attention and MLP projections, found by the model's structure), or a list "
        "of their last names (q_proj, v_proj...) to adapt only those.",
    )
    train_vision: bool = _f(False, "Also put LoRA on every linear layer of the vision tower.")
    modules_to_save: list[str] = _f(
        [],
        "Modules trained fully and saved with the adapter: embeddings, lm_head, projector, "
        "vision_tower (for a base with no language or vision yet, e.g. a randomly "
        "initialised test model).",
    )


@dataclass
class DatasetArgs:
    """Where the images and labels come from and how they are prepared."""

    format: str = _f("rafdb", "Layout: rafdb (basic or compound), cexpr, folder, csv.")
    root: str = _f("", "Data set folder (RAF-DB: the basic/ or compound/ folder).")
    annotations: str | None = _f(
        None, "Labels file when the layout needs one (cexpr/csv); relative to root."
    )
    label_set: str = _f("raf_basic", "Label set: raf_basic, raf_compound, c_expr, custom:A,B.")
    split: str = _f("train", "Split to train on (RAF-DB: train/test from the file names).")
    eval_split: str | None = _f("test", "Split evaluated after training (none to skip).")
    variant: str = _f("aligned", "RAF-DB images: aligned (Image/aligned) or original.")
    align: str = _f(
        "app",
        "app: every image goes through the app's face aligner (cached); none: images are "
        "used as they are, resized (drawn synthetic faces, which MediaPipe does not find).",
    )
    crop_size: int = _f(224, "Side of the aligned square crop, as the app's analyzer.")
    cache_dir: str | None = _f(None, "Aligned-crop cache (default: <output_dir>/../.crop_cache).")
    prompt: str = _f("default", "Prompt template id (the app's prompts).")
    min_pixels: int | None = _f(None, "Image pixel floor for the processor (None: default).")
    max_pixels: int | None = _f(None, "Image pixel ceiling for the processor (None: default).")
    max_samples: int | None = _f(None, "Use at most this many training images (debugging).")


@dataclass
class TrainArgs:
    """The optimisation loop (Hugging Face Trainer; `accelerate launch` for several GPUs)."""

    output_dir: str = _f("", "Run folder: checkpoints, logs and the final adapter/ folder.")
    epochs: float = _f(3.0, "Number of passes over the training set.")
    max_steps: int = _f(-1, "Stop after this many optimiser steps (overrides epochs if > 0).")
    batch_size: int = _f(4, "Images per device per step.")
    grad_accum: int = _f(4, "Gradient accumulation steps.")
    learning_rate: float = _f(2e-4, "Peak learning rate.")
    lr_scheduler: str = _f("cosine", "Learning-rate schedule (Trainer's names).")
    warmup_ratio: float = _f(0.03, "Fraction of steps spent warming up.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    seed: int = _f(42, "Random seed (data order, LoRA init, dropout).")
    logging_steps: int = _f(10, "Log the loss every N steps.")
    save_steps: int = _f(500, "Write a checkpoint every N steps.")
    save_total_limit: int = _f(2, "Keep at most this many checkpoints.")
    resume: bool = _f(True, "Resume from the newest checkpoint in output_dir if there is one.")
    report_to: str = _f("none", "Loggers: none, tensorboard (if installed).")
    gradient_checkpointing: bool = _f(False, "Trade compute for memory.")
    num_workers: int = _f(0, "Data loader worker processes.")
    progress: bool = _f(True, "Show a progress bar.")


SECTIONS: dict[str, type] = {
    "model": ModelArgs,
    "method": MethodArgs,
    "dataset": DatasetArgs,
    "train": TrainArgs,
}


@dataclass
class Recipe:
    """One stage's full set of arguments."""

    model: ModelArgs = field(default_factory=ModelArgs)
    method: MethodArgs = field(default_factory=MethodArgs)
    dataset: DatasetArgs = field(default_factory=DatasetArgs)
    train: TrainArgs = field(default_factory=TrainArgs)
    source: str = ""  # the file it was read from, for messages

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (what the adapter metadata records)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


def _owner_of(key: str) -> str:
    owners = [s for s, cls in SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}]
    if not owners:
        raise RecipeError(f"unknown recipe key {key!r}; see `cer train --help-recipe`")
    return owners[0]


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a YAML/CLI value into the field's type, or raise a RecipeError naming `where`."""
    if isinstance(tp, str):
        tp = eval(tp, {"list": list, "str": str, "int": int, "float": float, "bool": bool})  # noqa: S307
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        tp = next(a for a in args if a is not type(None))
        return _coerce(value, tp, where)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], where) for v in value]
    try:
        if tp is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("true", "yes", "1", "on"):
                    return True
                if low in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            if isinstance(value, bool | int):
                return bool(value)
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if tp is str:
            if isinstance(value, dict | list):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError):
        raise RecipeError(f"{where}: {value!r} is not a valid {tp.__name__}") from None
    return value


def recipe_from_dict(data: dict[str, Any], source: str = "") -> Recipe:
    """Build a Recipe from nested sections and/or flat keys; unknown keys are errors."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source or 'recipe'}: expected a mapping of sections")
    values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in data.items():
        if key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise RecipeError(f"{source}: section {key!r} must be a mapping")
            values[key].update(value)
        else:
            values[_owner_of(key)][key] = value
    groups = {}
    for section, cls in SECTIONS.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values[section].items():
            if key not in fields:
                raise RecipeError(
                    f"{source}: unknown key {section}.{key}; known: {', '.join(fields)}"
                )
            kwargs[key] = _coerce(value, fields[key].type, f"{source} {section}.{key}")
        groups[section] = cls(**kwargs)
    return Recipe(**groups, source=source)


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a YAML recipe; `overrides` are `section.key=value` or `key=value` strings."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping of sections")
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise RecipeError(f"override {item!r}: expected key=value")
        section, dot, name = key.strip().rpartition(".")
        if not dot:
            section = _owner_of(name)
        if section not in SECTIONS:
            raise RecipeError(f"override {item!r}: unknown section {section!r}")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            data[section] = {}
        data[section][name] = yaml.safe_load(value) if value.strip() else value
    recipe = recipe_from_dict(data, source=str(path))
    return recipe


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        cand = base / p
        if cand.exists() or not p.exists():
            return cand
    return p


def resolve_paths(recipe: Recipe) -> Recipe:
    """Paths in a recipe file are relative to that file's folder (if they exist there)."""
    base = Path(recipe.source).resolve().parent if recipe.source else None
    r = dataclasses.replace
    model = recipe.model
    if model.base and (base is not None) and _resolve(model.base, base).exists():
        model = r(model, base=str(_resolve(model.base, base)))
    if model.adapter:
        model = r(model, adapter=str(_resolve(model.adapter, base)))
    ds = recipe.dataset
    if ds.root:
        ds = r(ds, root=str(_resolve(ds.root, base)))
    train = recipe.train
    if train.output_dir:
        train = r(train, output_dir=str(_resolve(train.output_dir, base)))
    return r(recipe, model=model, dataset=ds, train=train)


def verify_recipe(recipe: Recipe) -> Recipe:
    """All cross-field rules, checked before anything heavy loads. Raises RecipeError."""
    m, meth, ds, tr = recipe.model, recipe.method, recipe.dataset, recipe.train
    problems: list[str] = []
    if not m.base:
        problems.append("model.base is required (a local model folder or hub id)")
    for what, check in (("model.quant", quant_name), ("model.dtype", dtype_name)):
        try:
            check(m.quant if what == "model.quant" else m.dtype)
        except VocabularyError as exc:
            problems.append(f"{what}: {exc}")
    base_dir = Path(m.base) if m.base else None
    if base_dir is not None and (base_dir / "adapter_config.json").exists():
        problems.append(
            f"model.base {m.base} is an adapter folder, not a base model: give the base "
            "in model.base and this folder in model.adapter to continue it"
        )
    if m.adapter:
        adapter = Path(m.adapter)
        if not (adapter / "adapter_config.json").exists():
            problems.append(f"model.adapter {m.adapter}: no adapter_config.json there")
        if meth.create_new_adapter:
            what = "a quantised base model" if m.quant != "none" else "a base model"
            problems.append(
                f"method.create_new_adapter asks for a new adapter on {what} that already has "
                f"one ({m.adapter}); stacking adapters is refused: continue the existing "
                "adapter (drop create_new_adapter) or train from the base alone"
            )
    elif meth.create_new_adapter:
        problems.append("method.create_new_adapter without model.adapter means nothing; drop it")
    if meth.lora_rank < 1:
        problems.append("method.lora_rank must be >= 1")
    if meth.lora_alpha < 1:
        problems.append("method.lora_alpha must be >= 1")
    if not 0.0 <= meth.lora_dropout < 1.0:
        problems.append("method.lora_dropout must be in [0, 1)")
    if not meth.lora_target and not meth.train_vision:
        problems.append("method.lora_target is empty and train_vision is off: nothing to adapt")
    if ALL_LINEAR in meth.lora_target and len(meth.lora_target) > 1:
        problems.append(f"method.lora_target: give {ALL_LINEAR} alone or layer names without it")
    bad = [x for x in meth.modules_to_save if x not in MODULE_ALIASES]
    if bad:
        problems.append(
            f"method.modules_to_save: unknown {', '.join(bad)}; use {', '.join(MODULE_ALIASES)}"
        )
    if meth.train_vision and "vision_tower" in meth.modules_to_save:
        problems.append(
            "method.train_vision (LoRA on the vision tower) and modules_to_save: vision_tower "
            "(train it fully) exclude each other"
        )
    if ds.format not in FORMATS:
        problems.append(f"dataset.format must be one of {', '.join(FORMATS)}, not {ds.format!r}")
    if ds.align not in ALIGNS:
        problems.append(f"dataset.align must be one of {', '.join(ALIGNS)}, not {ds.align!r}")
    if ds.variant not in VARIANTS:
        problems.append(f"dataset.variant must be one of {', '.join(VARIANTS)}")
    if not ds.root:
        problems.append("dataset.root is required")
    elif not Path(ds.root).is_dir():
        problems.append(f"dataset.root {ds.root} is not a folder")
    if ds.format in ("cexpr", "csv") and not ds.annotations:
        problems.append(f"dataset.annotations (labels CSV) is required for format {ds.format}")
    try:
        get_label_set(ds.label_set)
    except LabelSetError as exc:
        problems.append(f"dataset.label_set: {exc}")
    if ds.crop_size < 28:
        problems.append("dataset.crop_size must be at least 28")
    if not tr.output_dir:
        problems.append("train.output_dir is required")
    if tr.batch_size < 1 or tr.grad_accum < 1:
        problems.append("train.batch_size and train.grad_accum must be >= 1")
    if tr.learning_rate <= 0:
        problems.append("train.learning_rate must be > 0")
    if tr.epochs <= 0 and tr.max_steps <= 0:
        problems.append("train.epochs or train.max_steps must be > 0")
    if tr.report_to not in ("none", "tensorboard"):
        problems.append("train.report_to must be none or tensorboard")
    elif tr.report_to == "tensorboard":
        import importlib.util

        if (
            importlib.util.find_spec("tensorboard") is None
            and importlib.util.find_spec("tensorboardX") is None
        ):
            problems.append(
                "train.report_to: tensorboard is not installed (pip install tensorboard)"
            )
    if problems:
        head = f"recipe {recipe.source} refused:" if recipe.source else "recipe refused:"
        raise RecipeError("\n  ".join([head, *problems]))
    return recipe
