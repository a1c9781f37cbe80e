"""CPU speed modes for the LVLM tier, and whether each keeps the model's numerics.

- `none`: the model as loaded (on CPUs with native bf16 that is bf16, `dtype auto`).
- `packed` (kernels: same dtype, same products; only the summation order inside a product can
  differ): every bf16 linear layer's weight is reordered once into oneDNN's blocked layout and
  multiplied by oneDNN (AMX/AVX512-BF16), an MLP's GELU or SiLU is applied inside the product
  it follows, and every 3-D patch-embedding convolution (kernel = stride) runs as the same
  product over its patches (`cpu_kernels.py` says why).
- `int8-dynamic` (opt-in: it changes the numbers): every linear layer's weights in int8 (one
  scale per output channel) with per-call activation scales
  (`torch.ao.quantization.quantize_dynamic`, VNNI/AMX int8 kernels). The model must be loaded
  in fp32; the embedding and the vision tower's patch convolution stay fp32. It stays opt-in
  until checked on real weights. Measured at the 2B shape it is 2.7x slower than bf16 and
  0.38 away from fp32 (tiny random models: 0.006-0.13): a bench candidate, not a setting.

Measured by `cer bench lvlm` (modes), not assumed: see BENCHMARKS.md.
"""

from __future__ import annotations

import os
from typing import Any

from cer_desktop.contracts import RecognizerError
from cer_desktop.recognition.lvlm.cpu_kernels import (
    fuse_mlp_activations,
    is_patch_conv,
    packed_linear,
    patch_linear,
)
from cer_desktop.recognition.lvlm.loading import unwrap

CPU_SPEED_MODES = ("none", "packed", "int8-dynamic")
# modes that compute the same products in the loaded dtype (rounding aside)
KEEPS_NUMERICS = frozenset({"none", "packed"})


class SpeedModeError(RecognizerError):
    """A speed mode that cannot apply to this model (wrong dtype or device, unknown name)."""


def _pack_linears(core: Any) -> int:
    """Every bf16 linear layer and patch convolution of `core` swapped for its oneDNN drop-in."""
    import torch

    fuse_mlp_activations(core)  # first: it reads the linear layers' weights
    targets = [
        (parent, name, child)
        for parent in core.modules()
        for name, child in parent.named_children()
        if (type(child) is torch.nn.Linear and child.weight.dtype == torch.bfloat16)
        or is_patch_conv(child)
    ]
    for parent, name, child in targets:
        if isinstance(child, torch.nn.Linear):
            bias = None if child.bias is None else child.bias.detach()
            swap = packed_linear(child.weight.detach(), bias, child.in_features, child.out_features)
        else:
            swap = patch_linear(child)
        setattr(parent, name, swap)
    return sum(isinstance(c, torch.nn.Linear) for _, _, c in targets)


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
    if mode == "packed":
        if not torch.backends.mkldnn.is_available():
            raise SpeedModeError("packed needs torch built with oneDNN (mkldnn)")
        if _pack_linears(core) == 0:
            raise SpeedModeError("packed needs the model loaded in bf16 (--dtype bf16)")
        return model
    if any(p.dtype.is_floating_point and p.dtype != torch.float32 for p in params):
        raise SpeedModeError(f"{mode} needs the model loaded in fp32 (--dtype fp32)")
    # per output channel: one scale per row keeps rows of very different norms exact enough
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    torch.ao.quantization.quantize_dynamic(
        core, {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=True
    )
    return model


def default_cpu_speed_mode(model: Any) -> str:
    """The mode the app applies by default: `packed` for a bf16 model on the CPU, else `none`.

    Not for a model with an unmerged LoRA adapter (PEFT reads its layers' weights) or one being
    trained (packed weights have no gradients); `CER_CPU_PACKED=0` turns it off.
    """
    import torch

    if os.environ.get("CER_CPU_PACKED", "1").strip().lower() in ("0", "false", "no", "off"):
        return "none"
    if unwrap(model) is not model or not torch.backends.mkldnn.is_available():
        return "none"  # a PeftModel (unwrap returns its base): keep its layers as they are
    if any(type(m).__module__.startswith("peft") for m in model.modules()):
        return "none"  # LoRA layers injected without the wrapper
    first = next(model.parameters(), None)
    if first is None or first.device.type != "cpu" or model.training:
        return "none"
    has_bf16_linear = any(
        type(m) is torch.nn.Linear and m.weight.dtype == torch.bfloat16 for m in model.modules()
    )
    return "packed" if has_bf16_linear else "none"
