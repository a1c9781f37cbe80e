"""`ModelSpec`: which vision-language model to run, how (quantisation, device), and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from cer_desktop.contracts import RecognizerError
from cer_desktop.option_values import (
    DTYPES,
    QUANTS,
    VocabularyError,
    device_name,
    dtype_name,
    quant_name,
)

__all__ = ["DTYPES", "MODES", "QUANTS", "ModelSpec", "SpecError"]

MODES = ("score", "generate")


class SpecError(RecognizerError):
    """A model spec with an impossible combination of settings."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A base model (hub id or folder), an optional LoRA adapter, and how to run them.

    `quant`: "none" (weights in `dtype`), "nf4" (4-bit NormalFloat with double quantisation,
    computing in `dtype`) or "int8". `dtype` "auto": see `cer_desktop.option_values.DTYPES` (bf16 on
    CUDA, fp16 on MPS, on the CPU bf16 where it is native, else fp32). `mode`: "score" (closed-set label likelihoods, the default) or "generate" (free
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
        try:
            object.__setattr__(self, "quant", quant_name(self.quant))
            object.__setattr__(self, "dtype", dtype_name(self.dtype))
            object.__setattr__(self, "device", device_name(self.device))
        except VocabularyError as exc:
            raise SpecError(str(exc)) from exc
        if self.mode not in MODES:
            raise SpecError(f"mode {self.mode!r} unknown; choose {', '.join(MODES)}")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise SpecError(f"threshold {self.threshold} must be within 0..1")

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
