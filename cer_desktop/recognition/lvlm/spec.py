"""`ModelSpec`: which vision-language model to run, how (quantisation, device), and how to answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cer_desktop.contracts import RecognizerError

QUANTS = ("none", "nf4", "int8")
DTYPES = ("auto", "bf16", "fp16", "fp32")
MODES = ("score", "generate")
_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32"}
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SpecError(RecognizerError):
    """A model spec with an impossible combination of settings."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A base model (hub id or folder), an optional LoRA adapter, and how to run them.

    `quant`: "none" (weights in `dtype`), "nf4" (4-bit NormalFloat with double quantisation,
    computing in `dtype`) or "int8". `dtype` "auto" = bf16 on CUDA, fp16 on MPS, and on the
    CPU bf16 where it is native (AVX512-BF16/AMX), else fp32. `mode`: "score" (closed-set label likelihoods, the default) or "generate" (free
    generation, parsed to a label). `threshold`: below this top probability a face is shown as
    "uncertain". `local_files_only`: never download (the app's default; `cer models pull`
    downloads).
    """

    base: str
    adapter: str | None = None
    quant: str = "none"
    dtype: str = "auto"
    device: str = "auto"
    revision: str | None = None
    mode: str = "score"
    threshold: float = 0.0
    local_files_only: bool = True
    merge_adapter: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.base, str) or not self.base.strip():
            raise SpecError("a model spec needs a base model (hub id or folder)")
        if self.adapter is not None and not str(self.adapter).strip():
            object.__setattr__(self, "adapter", None)
        quant = (self.quant or "none").lower()
        quant = {"4bit": "nf4", "8bit": "int8", "bnb4": "nf4"}.get(quant, quant)
        if quant not in QUANTS:
            raise SpecError(f"quantisation {self.quant!r} unknown; choose {', '.join(QUANTS)}")
        object.__setattr__(self, "quant", quant)
        dtype = _DTYPE_ALIASES.get((self.dtype or "auto").lower(), (self.dtype or "auto").lower())
        if dtype not in DTYPES:
            raise SpecError(f"dtype {self.dtype!r} unknown; choose {', '.join(DTYPES)}")
        object.__setattr__(self, "dtype", dtype)
        if not _DEVICE_RE.match(self.device or ""):
            raise SpecError(f"device {self.device!r} unknown; choose auto, cpu, cuda, cuda:N, mps")
        if self.mode not in MODES:
            raise SpecError(f"mode {self.mode!r} unknown; choose {', '.join(MODES)}")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise SpecError(f"threshold {self.threshold} must be within 0..1")
        if self.quant != "none" and self.device == "mps":
            raise SpecError("bitsandbytes quantisation does not run on MPS; use --quant none")

    @property
    def quantized(self) -> bool:
        return self.quant != "none"

    def describe(self) -> str:
        """A short human-readable summary for the status bar and manifests."""
        parts = [self.base]
        if self.adapter:
            parts.append(f"+ {self.adapter}")
        if self.quantized:
            parts.append(f"[{self.quant}]")
        return " ".join(parts)
