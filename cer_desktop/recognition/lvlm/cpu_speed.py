"""CPU speed modes for the LVLM tier, and whether each keeps the model's numerics.

- `none`: the model as loaded (on CPUs with native bf16 that is bf16, `dtype auto`).
- `int8-dynamic` (opt-in: it changes the numbers): every linear layer's weights in int8 (one
  scale per output channel) with per-call activation scales (`torch.ao.quantization.quantize_dynamic`, fbgemm/oneDNN int8
  kernels with AVX512-VNNI/AMX). The model must be loaded in fp32; the embedding and the vision
  tower's patch convolution stay fp32. It stays opt-in until checked on real weights; on the
  built models its probabilities stay within 0.03 of fp32's (test).

Measured by `cer bench lvlm` (modes), not assumed: see BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

from cer_desktop.contracts import RecognizerError
from cer_desktop.recognition.lvlm.loading import unwrap

CPU_SPEED_MODES = ("none", "int8-dynamic")
# modes that leave every probability as the loaded model computes it
KEEPS_NUMERICS = frozenset({"none"})


class SpeedModeError(RecognizerError):
    """A speed mode that cannot apply to this model (wrong dtype or device, unknown name)."""


def apply_cpu_speed_mode(model: Any, mode: str) -> Any:
    """`model` changed in place for `mode` (see the module's docstring); returns it."""
    import torch

    if mode not in CPU_SPEED_MODES:
        raise SpeedModeError(f"speed mode {mode!r} unknown; choose {', '.join(CPU_SPEED_MODES)}")
    if mode == "none":
        return model
    core = unwrap(model)
    params = list(core.parameters())
    if any(p.device.type != "cpu" for p in params):
        raise SpeedModeError(f"{mode} runs on the CPU only; the model is not on the CPU")
    if any(p.dtype.is_floating_point and p.dtype != torch.float32 for p in params):
        raise SpeedModeError(f"{mode} needs the model loaded in fp32 (--dtype fp32)")
    torch.ao.quantization.quantize_dynamic(core, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return model
