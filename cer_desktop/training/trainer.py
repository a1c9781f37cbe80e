"""`cer train`: one stage of Yu & Lu's two-stage LoRA fine-tuning on the Hugging Face Trainer.

Order of work, so that every mistake surfaces before anything heavy loads: the recipe is
checked (`verify_recipe`), the data set is read and checked (`DatasetError` lists every bad
line), every image is prepared once through the app's aligner (filling the crop cache), and
only then is the model loaded. Stage 2 continues stage 1's adapter (loaded trainable); a new
adapter is never stacked on a model that already has one.

The Trainer runs on `accelerate`, so `accelerate launch -m cer_desktop train R.yaml`
trains on several GPUs with no code change. Inputs are built by the app's own prompt and
encoding code (`cer_desktop.recognition.lvlm.encoding.encode_training_batch`): the loss is on
the answer's tokens and the end-of-answer token only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.metadata import AdapterMetadata
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, get_prompt, prompt_for
from cer_desktop.training.data import (  # noqa: F401 - re-exported
    FaceDataset,
    TrainingCollator,
    make_preparer,
    prepare_all,
    read_recipe_data,
)
from cer_desktop.training.datasets import ImagePreparer, LabeledImages
from cer_desktop.training.errors import TrainingError
from cer_desktop.training.lora import (  # noqa: F401 - re-exported
    MODULE_NAMES,
    PROJECTOR_PARTS,
    VISION_PARTS,
    lora_config,
    lora_target_names,
    modules_to_save_names,
)
from cer_desktop.training.recipe import (
    Recipe,
    RecipeError,
    resolve_paths,
    verify_recipe,
)

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"


# ---------------------------------------------------------------------------------------------
# Shared pieces: prompt, image limits.


def recipe_prompt(recipe: Recipe, label_set: LabelSet) -> PromptTemplate:
    """The prompt template a recipe names ("auto": the one written for the label set)."""
    pid = recipe.dataset.prompt
    return prompt_for(label_set) if pid in ("auto", "") else get_prompt(pid)


def recipe_limits(recipe: Recipe) -> ImageLimits:
    """Processor pixel limits: the recipe's, or the crop's own size (no resizing)."""
    ds = recipe.dataset
    if ds.min_pixels is None and ds.max_pixels is None:
        return ImageLimits.for_crop(ds.crop_size)
    lo = ds.min_pixels or ds.max_pixels or ds.crop_size**2
    hi = ds.max_pixels or ds.min_pixels or ds.crop_size**2
    return ImageLimits(int(lo), int(hi))


# Data (data.py) and LoRA targets (lora.py) have modules of their own.


# ---------------------------------------------------------------------------------------------
# Model


def compute_dtype(name: str) -> torch.dtype:
    """The torch dtype a recipe's dtype name means on this machine: the app's own rule
    (`resolve_dtype`), so "auto" means the same in training and at run time."""
    from cer_desktop.option_values import dtype_name
    from cer_desktop.recognition.lvlm.loading import resolve_device, resolve_dtype

    dtype: torch.dtype = resolve_dtype(dtype_name(name), resolve_device("auto"))
    return dtype


def load_for_training(recipe: Recipe) -> tuple[Any, Any]:
    """The base model (quantised as the recipe says, via the app's `quantization_config`)
    and its processor, ready for LoRA."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from cer_desktop.recognition.lvlm.loading import quantization_config
    from cer_desktop.recognition.lvlm.quant_layers import nf4_skip_modules

    m = recipe.model
    dtype = compute_dtype(m.dtype)
    kwargs: dict[str, Any] = {
        "revision": m.revision,
        "local_files_only": m.local_files_only,
    }
    try:  # the app's rule: layers bitsandbytes cannot pack stay unquantised
        skips = nf4_skip_modules(m.base, **kwargs) if m.quant == "nf4" else None
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load base model {m.base}: {exc}") from exc
    qconf = quantization_config(m.quant, dtype, skips)
    try:
        processor = AutoProcessor.from_pretrained(m.base, **kwargs)
        load_kwargs: dict[str, Any] = {"dtype": dtype, **kwargs}
        if qconf is not None:
            load_kwargs["quantization_config"] = qconf
            if torch.cuda.is_available():
                from accelerate import PartialState

                # one full copy per process under `accelerate launch` (QLoRA + DDP)
                load_kwargs["device_map"] = {"": PartialState().process_index}
        model = AutoModelForImageTextToText.from_pretrained(m.base, **load_kwargs)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load base model {m.base}: {exc}") from exc
    if qconf is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=recipe.train.gradient_checkpointing
        )
    elif recipe.train.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.config.use_cache = False
    return model, processor


def attach_adapter(model: Any, recipe: Recipe) -> Any:
    """A new LoRA adapter, or the recipe's existing adapter loaded trainable (stage 2)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if recipe.model.adapter:
        if isinstance(model, PeftModel):  # pragma: no cover - verify_recipe prevents it
            raise RecipeError("the model already carries an adapter; stacking is refused")
        from cer_desktop.contracts import RecognizerError
        from cer_desktop.recognition.lvlm.loading import check_adapter_fits

        try:  # the app's own fit check: clear messages for a stage-1 adapter of another base
            for warning in check_adapter_fits(model, recipe.model.adapter):
                log.warning("%s", warning)
        except RecognizerError as exc:
            raise TrainingError(str(exc)) from exc
        try:
            peft_model = PeftModel.from_pretrained(model, recipe.model.adapter, is_trainable=True)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise TrainingError(
                f"adapter {recipe.model.adapter} does not fit base {recipe.model.base}: {exc}"
            ) from exc
        cfg = peft_model.peft_config["default"]
        if not isinstance(cfg, LoraConfig):  # pragma: no cover - check_adapter_fits refuses it
            raise TrainingError(f"adapter {recipe.model.adapter} is not a LoRA adapter")
        if cfg.r != recipe.method.lora_rank:
            log.warning(
                "continuing adapter %s with its own rank %d (the recipe's %d is ignored)",
                recipe.model.adapter,
                cfg.r,
                recipe.method.lora_rank,
            )
        return peft_model
    return get_peft_model(model, lora_config(model, recipe.method))


def trainable_summary(model: torch.nn.Module) -> dict[str, int]:
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    return {"trainable_params": int(n_train), "all_params": int(n_all)}


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class TrainResult:
    """What a stage produced."""

    adapter_dir: Path
    output_dir: Path
    train_images: int
    steps: int
    seconds: float
    final_loss: float | None
    log_history: list[dict[str, Any]] = field(default_factory=list)
    no_face: int = 0
    trainable_params: int = 0
    evaluation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "adapter_dir": str(self.adapter_dir),
            "train_images": self.train_images,
            "steps": self.steps,
            "seconds": round(self.seconds, 1),
            "final_loss": self.final_loss,
            "no_face": self.no_face,
            "trainable_params": self.trainable_params,
            "evaluation": self.evaluation,
        }


def _last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    return get_last_checkpoint(str(output_dir))


def prepare_run(
    recipe: Recipe, *, progress: bool = True
) -> tuple[Recipe, LabeledImages, ImagePreparer]:
    """Everything before the model loads: recipe checks, data checks, crop preparation."""
    recipe = verify_recipe(resolve_paths(recipe))
    data = read_recipe_data(recipe, recipe.dataset.split)
    preparer = make_preparer(recipe)
    prepare_all(data, preparer, progress)
    if preparer.no_face:
        log.warning(
            "no face found in %d of %d images (whole image used instead), e.g. %s",
            len(preparer.no_face),
            len(data),
            preparer.no_face[0],
        )
    return recipe, data, preparer


def train(
    recipe: Recipe,
    *,
    progress: bool | None = None,
    model_hook: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Run one stage; returns where the adapter went. `model_hook(peft_model)` is called
    before training starts (tests use it to snapshot weights)."""
    from transformers import Trainer, TrainingArguments

    t0 = time.perf_counter()
    show = recipe.train.progress if progress is None else progress
    recipe, data, preparer = prepare_run(recipe, progress=show)
    label_set = get_label_set(recipe.dataset.label_set)
    prompt = recipe_prompt(recipe, label_set)
    limits = recipe_limits(recipe)
    tr = recipe.train
    out = Path(tr.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log.info("%s", data.summary())

    torch.manual_seed(tr.seed)  # LoRA init is drawn when the adapter is attached
    model, processor = load_for_training(recipe)
    model = attach_adapter(model, recipe)
    summary = trainable_summary(model)
    log.info("trainable parameters: %d of %d", summary["trainable_params"], summary["all_params"])
    if model_hook is not None:
        model_hook(model)

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=tr.batch_size,
        gradient_accumulation_steps=tr.grad_accum,
        learning_rate=tr.learning_rate,
        num_train_epochs=tr.epochs,
        max_steps=tr.max_steps,
        lr_scheduler_type=tr.lr_scheduler,
        warmup_steps=tr.warmup_ratio,
        weight_decay=tr.weight_decay,
        logging_steps=tr.logging_steps,
        save_steps=tr.save_steps,
        save_total_limit=tr.save_total_limit,
        seed=tr.seed,
        report_to=[] if tr.report_to == "none" else [tr.report_to],
        disable_tqdm=not show,
        dataloader_num_workers=tr.num_workers,
        remove_unused_columns=False,
        bf16=compute_dtype(recipe.model.dtype) == torch.bfloat16 and torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        save_only_model=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=FaceDataset(data, preparer, label_set),
        data_collator=TrainingCollator(processor, label_set, prompt, limits),
    )
    resume = _last_checkpoint(out) if tr.resume else None
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)

    adapter_dir = out / ADAPTER_DIR
    if trainer.is_world_process_zero():
        model.save_pretrained(str(adapter_dir))
        write_adapter_metadata(adapter_dir, recipe, label_set, prompt, limits, preparer)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    res = TrainResult(
        adapter_dir=adapter_dir,
        output_dir=out,
        train_images=len(data),
        steps=int(trainer.state.global_step),
        seconds=time.perf_counter() - t0,
        final_loss=float(losses[-1]) if losses else float(result.training_loss),
        log_history=list(trainer.state.log_history),
        no_face=len(preparer.no_face),
        trainable_params=summary["trainable_params"],
    )
    if trainer.is_world_process_zero():
        res.evaluation = evaluate_after_training(recipe, model, processor, adapter_dir, show)
        (out / "train_summary.json").write_text(
            json.dumps(res.as_dict(), indent=2) + "\n", encoding="utf-8"
        )
    return res


def evaluate_after_training(
    recipe: Recipe, model: Any, processor: Any, adapter_dir: Path, progress: bool
) -> dict[str, Any] | None:
    """Score `dataset.eval_split` with the model just trained, through the app's scorer,
    and write metrics, table, confusion PNG and predictions to <output_dir>/eval/."""
    from cer_desktop.recognition.lvlm.metadata import read_metadata
    from cer_desktop.training.evaluate import LoadedModel, evaluate, write_outputs

    ds = recipe.dataset
    split = ds.eval_split
    if not split or split in ("none", ds.split):
        return None
    # only layouts with a real held-out split (never the training rows again)
    if not (ds.format == "rafdb" or (ds.format == "folder" and (Path(ds.root) / split).is_dir())):
        return None
    data = read_recipe_data(recipe, split)
    meta = read_metadata(adapter_dir)
    if meta is None:
        raise TrainingError(f"{adapter_dir} holds no adapter metadata to evaluate with")
    model.eval()
    loaded = LoadedModel(
        model, processor, meta, ds.crop_size, meta.to_limits(), recipe.model.base, str(adapter_dir)
    )
    result = evaluate(loaded, data, make_preparer(recipe), batch_size=8, inputs=ds.align)
    write_outputs(result, Path(recipe.train.output_dir) / "eval", title=f"{data.description}")
    if result.report is not None:
        log.info("%s\n%s", data.summary(), result.report.table())
        return {
            "split": split,
            "accuracy": result.report.accuracy,
            "macro_f1": result.report.macro_f1,
        }
    return None


def write_adapter_metadata(
    adapter_dir: Path,
    recipe: Recipe,
    label_set: LabelSet,
    prompt: PromptTemplate,
    limits: ImageLimits,
    preparer: ImagePreparer,
) -> Path:
    """`cer_adapter.json` beside PEFT's files: what the app must feed this adapter."""
    meta = AdapterMetadata.create(
        label_set,
        prompt,
        crop_size=recipe.dataset.crop_size,
        limits=limits,
        alignment=preparer.template,
        base_model=recipe.model.base,
        recipe=recipe.to_dict(),
    )
    return meta.write(adapter_dir)
