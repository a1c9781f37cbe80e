"""Where an LVLM runs — NVIDIA's CUDA, Apple's MPS or the CPU — and what 4-bit means there.

What bitsandbytes 0.50 supports, read from its wheels' metadata and files: Linux and Windows
x86-64 carry CPU and CUDA libraries; the macOS arm64 wheel (macOS 14+) carries only a CPU
library (`libbitsandbytes_cpu.dylib`) and MPS kernels written in PyTorch (Metal kernels come
from the model hub, and only on macOS 26+, which this app never downloads). Its support table
marks 4-bit NF4 and LLM.int8() as working on both the Mac's CPU and MPS, "may lack
performance optimizations". So 4-bit asked for on a Mac runs, on the Apple GPU, but slowly: the
window says so (`quant_note`) rather than refusing or silently loading the full model.
"""

from __future__ import annotations

__all__ = ["auto_device", "quant_note"]


def auto_device(*, cuda: bool, mps: bool) -> str:
    """The device "auto" picks: CUDA when present, then Apple's GPU (MPS), else the CPU."""
    if cuda:
        return "cuda"
    if mps:
        return "mps"
    return "cpu"


def quant_note(quant: str, device: str) -> str:
    """What runs when `quant` ("nf4", "int8", "none") was asked for on `device`, in words for
    the window; "" when it runs as asked with no caveat (CUDA, or no quantisation)."""
    if quant == "none" or device.startswith("cuda"):
        return ""
    what = "4-bit NF4" if quant == "nf4" else "8-bit (LLM.int8)"
    if device == "mps":
        return (
            f"{what} runs on the Apple GPU (MPS) through bitsandbytes' PyTorch fallback "
            "kernels: it saves memory, but is slower than the unquantised model (--quant none) "
            "there"
        )
    return (
        f"{what} runs on the CPU with bitsandbytes' CPU kernels: it saves memory, but is "
        "slower than the unquantised model (--quant none) there"
    )
