"""Loading a base vision-language model (optionally 4-bit/8-bit) and a LoRA adapter that fits it.

`quantization_config` is shared with training, so QLoRA trains on the same quantised base the
app runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cer_desktop.contracts import RecognizerError
from cer_desktop.recognition.lvlm.device_plan import auto_device, quant_note
from cer_desktop.recognition.lvlm.quant_layers import nf4_skip_modules
from cer_desktop.recognition.lvlm.spec import ModelSpec

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class ModelNotFoundError(RecognizerError):
    """The base model or adapter is neither a folder nor in the local Hugging Face cache."""


class ModelLoadError(RecognizerError):
    """The model exists but could not be loaded (broken files, out of memory, no bitsandbytes...)."""


class AdapterMismatchError(RecognizerError):
    """A LoRA adapter whose target modules or tensor shapes do not fit the base model."""


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def resolve_device(device: str) -> str:
    """ "auto" -> cuda when available, then mps, else cpu."""
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
        return device
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return auto_device(cuda=torch.cuda.is_available(), mps=mps)


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX).

    There bf16 inference is several times faster than fp32 (`cer bench lvlm`: 90 vs 337 ms
    per face on an AVX512-BF16 Xeon); elsewhere bf16 is emulated and slower than fp32.
    The environment variable `CER_CPU_BF16` (1 or 0) overrides the probe.
    """
    forced = os.environ.get("CER_CPU_BF16", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    import torch

    cpu = getattr(torch, "cpu", None)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        probe = getattr(cpu, name, None)
        try:
            if probe is not None and probe():
                return True
        except Exception:  # a torch build without the probe
            continue
    return False


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype for weights (unquantised) or computation (quantised).

    "auto": bf16 on CUDA (fp16 where bf16 is not supported), fp16 on MPS, and on the CPU bf16
    where the CPU has native bf16 (`cpu_has_native_bf16`), else fp32.
    """
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device == "mps":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]


def quantization_config(
    quant: str, compute_dtype: Any = None, skip_modules: list[str] | None = None
) -> Any:
    """`BitsAndBytesConfig` for "nf4" (4-bit NF4, double quantisation) or "int8"; None for "none".

    `skip_modules` (`quant_layers.nf4_skip_modules`) are linear layers NF4 leaves unquantised.
    """
    if quant in (None, "none"):
        return None
    try:
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError as exc:  # pragma: no cover - part of the install
        raise ModelLoadError(f"quantisation needs transformers and bitsandbytes: {exc}") from exc
    if quant == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype or torch.bfloat16,
            llm_int8_skip_modules=skip_modules,
        )
    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ModelLoadError(f"unknown quantisation {quant!r}")


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or os.path.isabs(name)
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def resolve_local(
    name: str, *, revision: str | None = None, local_files_only: bool = True, what: str = "model"
) -> str:
    """A folder for `name`: an existing folder, or the hub id's snapshot in the local cache.

    With `local_files_only=False` a hub id not in the cache is returned unchanged so that
    `from_pretrained` downloads it.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if _looks_like_path(name):
        raise ModelNotFoundError(f"{what} folder {name!r} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id=name, revision=revision, local_files_only=True)
    except Exception as exc:
        if not local_files_only:
            return name
        raise ModelNotFoundError(
            f"{what} {name!r} is not in the local Hugging Face cache and is not a folder. "
            f"Download it once with `cer models pull {name}` (or give the path of a folder "
            f"holding it). [{type(exc).__name__}]"
        ) from exc


def load_base(spec: ModelSpec, progress: Progress | None = None) -> tuple[Any, Any]:
    """Load the spec's base model and processor; returns `(model, processor)`, model in eval mode.

    Raises `ModelNotFoundError` when the model is not available locally, `ModelLoadError` when it
    cannot be loaded.
    """
    _report(progress, 0.0, f"finding {spec.base}")
    where = resolve_local(spec.base, revision=spec.revision, local_files_only=spec.local_files_only)
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    common = {"revision": spec.revision, "local_files_only": spec.local_files_only}
    _report(progress, 0.1, "loading the processor")
    try:
        processor = AutoProcessor.from_pretrained(where, **common)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the processor of {spec.base!r}: {exc}") from exc
    if not hasattr(processor, "apply_chat_template") or not getattr(
        processor, "chat_template", None
    ):
        raise ModelLoadError(f"{spec.base!r} has no chat template: not an instruct/chat model")
    note = quant_note(spec.quant, device)
    _report(
        progress,
        0.2,
        f"loading {spec.base} ({spec.quant}, {device})" + (f": {note}" if note else ""),
    )
    kwargs: dict[str, Any] = {"dtype": dtype, **common}
    try:
        skips = nf4_skip_modules(where, **common) if spec.quant == "nf4" else None
    except Exception as exc:  # the same files fail again, with the reason, just below
        log.warning("cannot inspect %s for its NF4 layer shapes: %s", spec.base, exc)
        skips = None
    qconf = quantization_config(spec.quant, dtype, skips)
    if qconf is not None:
        kwargs["quantization_config"] = qconf
    if device != "cpu":
        # load straight onto the one device (bitsandbytes quantises while placing the weights)
        kwargs["device_map"] = {"": 0 if device == "cuda" else device}
    try:
        model = AutoModelForImageTextToText.from_pretrained(where, **kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"out of GPU memory loading {spec.base!r}; try --quant nf4 or a smaller model"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {spec.base!r}: {exc}") from exc
    model.eval()
    _report(progress, 0.8, "model loaded")
    return model, processor


def model_name(model: Any) -> str:
    """The name or path a model was loaded from (for messages)."""
    base = unwrap(model)
    return str(getattr(base, "name_or_path", "") or getattr(base.config, "_name_or_path", "?"))


def unwrap(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper (LoRA layers stay injected)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _adapter_file(folder: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (folder / name).is_file():
            return folder / name
    raise AdapterMismatchError(f"{folder} holds no adapter_model.safetensors: not a PEFT adapter")


def _adapter_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: tuple(v.shape) for k, v in state.items()}


def _by_suffix(modules: dict[str, Any], path: str) -> Any:
    """A module saved under an older layout ("model.layers.0..." before transformers moved the
    decoder to "model.language_model.layers.0..."): the one module whose name ends the same."""
    tail = path.removeprefix("model.")
    hits = [m for name, m in modules.items() if name.endswith("." + tail)]
    return hits[0] if len(hits) == 1 else None


def _in_out(module: Any) -> tuple[int, int] | None:
    """(in_features, out_features) of a linear layer, also when 4-/8-bit quantised."""
    base = getattr(module, "base_layer", module)
    fin, fout = getattr(base, "in_features", None), getattr(base, "out_features", None)
    if fin is None or fout is None:
        return None
    return int(fin), int(fout)


def check_adapter_fits(model: Any, folder: str | Path) -> list[str]:
    """Refuse an adapter whose LoRA tensors do not fit `model`; return warnings (e.g. base name).

    Every `lora_A` must be (r, in_features) and every `lora_B` (out_features, r) of a module
    that exists in the base model. A different base-model name alone is only a warning.
    """
    folder = Path(folder)
    cfg_path = folder / "adapter_config.json"
    if not cfg_path.is_file():
        raise AdapterMismatchError(f"{folder} holds no adapter_config.json: not a PEFT adapter")
    try:
        cfg = json.loads(cfg_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterMismatchError(f"cannot read {cfg_path}: {exc}") from exc
    base = unwrap(model)
    base_name = model_name(model)
    adapter_base = str(cfg.get("base_model_name_or_path") or "")
    warnings = []
    if adapter_base and Path(adapter_base).name != Path(base_name).name:
        warnings.append(
            f"adapter {folder.name!r} was trained on {adapter_base!r}, not {base_name!r}; "
            "its tensors fit, so it is used"
        )
    if cfg.get("peft_type", "LORA") != "LORA":
        raise AdapterMismatchError(f"adapter {folder} is {cfg.get('peft_type')}, not LoRA")
    shapes = _adapter_shapes(_adapter_file(folder))
    modules = dict(base.named_modules())
    problems: list[str] = []
    checked = 0
    for key, shape in shapes.items():
        for part in (".lora_A.", ".lora_B."):
            if part in key:
                break
        else:
            continue
        path = key.split(part)[0]
        path = path.removeprefix("base_model.model.")
        module = modules.get(path) or _by_suffix(modules, path)
        if module is None:
            problems.append(f"no module {path!r}")
            continue
        io = _in_out(module)
        if io is None:
            continue  # embeddings/convolutions: PEFT checks them when loading
        fin, fout = io
        ok = shape[1] == fin if part == ".lora_A." else shape[0] == fout
        checked += 1
        if not ok:
            want = f"(r, {fin})" if part == ".lora_A." else f"({fout}, r)"
            problems.append(f"{key} has shape {shape}, the base needs {want}")
    if problems or checked == 0:
        detail = "; ".join(problems[:3]) or "no LoRA tensor matches a module of the base"
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        targets = cfg.get("target_modules")
        raise AdapterMismatchError(
            f"adapter {str(folder)!r} (trained on {adapter_base or 'an unknown base'!r}, "
            f"targets {targets}) does not fit base model {base_name!r}: {detail}{more}"
        )
    for w in warnings:
        log.warning(w)
    return warnings


def load_adapter(
    model: Any,
    folder: str | Path,
    *,
    merge: bool = False,
    revision: str | None = None,
    local_files_only: bool = True,
    progress: Progress | None = None,
) -> Any:
    """Put the LoRA adapter in `folder` (or a cached hub id) on `model`; merged when asked.

    Merging folds the LoRA weights into the base for speed; it is skipped on a quantised base
    (merging into 4-bit weights would round them).
    """
    where = Path(
        resolve_local(
            str(folder), revision=revision, local_files_only=local_files_only, what="adapter"
        )
    )
    _report(progress, 0.85, f"checking adapter {where.name}")
    check_adapter_fits(model, where)
    try:
        from peft import PeftModel

        wrapped = PeftModel.from_pretrained(model, str(where), is_trainable=False)
    except Exception as exc:
        raise AdapterMismatchError(
            f"cannot load adapter {str(where)!r} on {model_name(model)!r}: {exc}"
        ) from exc
    quantized = getattr(unwrap(model), "is_quantized", False) or getattr(
        unwrap(model), "quantization_method", None
    )
    if merge and not quantized:
        _report(progress, 0.9, "merging the adapter")
        wrapped = wrapped.merge_and_unload()
    elif merge:
        log.info("not merging adapter into a quantised base")
    wrapped.eval()
    return wrapped
