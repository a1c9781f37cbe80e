"""oneDNN drop-ins for bf16 layers on the CPU: packed linears, fused activations, patch convs.

- `PackedLinear`: an `nn.Linear` whose weight is reordered once into oneDNN's blocked layout
  (`torch.ops.mkldnn._reorder_linear_weight`, what inductor's weight freezing does) and
  multiplied with `torch.ops.mkldnn._linear_pointwise` (AMX/AVX512-BF16). A plain `F.linear`
  reorders the weight on every call, which costs most for the few rows of one face.
- `fuse_mlp_activations`: a vision MLP `fc2(gelu(fc1(x)))` (Qwen3-VL, SigLIP in SmolVLM2
  and Gemma 3, InternViT) and a decoder MLP `down(act(gate(x)) * up(x))` get the activation
  applied by oneDNN to the first product before it is rounded to bf16 (one rounding fewer, so
  no further from fp32), instead of a separate pass over the activation: fc1 + GELU 3.8 ->
  2.2 ms per layer at the Qwen3-VL-2B shape, gate + SiLU 8.4 -> 7.8 ms per layer (one core).
- `PatchLinear`: a 3-D patch-embedding convolution (kernel = stride, no padding: every output
  voxel is one patch times the kernel) computed as that product: the patches laid out as rows,
  then one packed linear layer. The same sums in the same dtype; only the order inside a
  product can differ. Why: torch's bf16 `Conv3d` on the CPU has no fast oneDNN path. Qwen2-VL,
  Qwen3-VL and Qwen3.5 embed a 224-px face's 196-256 patches with one: 60-90 ms for the
  2B shapes' patch embedding against 1-8 ms as a product (best of 15, BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

PACK_ROWS_HINT = 64  # rows one call multiplies (a face's image tokens); any count works


def packed_linear(
    weight: Any, bias: Any, in_features: int, out_features: int, activation: str | None = None
) -> Any:
    """A module computing `x @ weight.T + bias` with the weight packed for oneDNN (bf16).

    `activation` ("gelu:tanh", "gelu:none" for erf, "swish" = SiLU) is applied to the product
    inside oneDNN, before the one rounding to bf16 (`fuse_mlp_activations`).
    """
    import torch

    post, _, algorithm = (activation or "none").partition(":")

    class PackedLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.in_features, self.out_features = in_features, out_features
            self.activation = activation  # fused into the product, or None
            # a plain attribute: the opaque oneDNN tensor is no parameter (not saved, not
            # counted, never trained)
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS_HINT)
            self.bias = bias

        def forward(self, x: Any) -> Any:
            return torch.ops.mkldnn._linear_pointwise(
                x.contiguous(), self.packed, self.bias, post, [], algorithm
            )

    return PackedLinear()


def is_patch_conv(conv: Any) -> bool:
    """True for a bf16 `Conv3d` whose kernel equals its stride, unpadded, ungrouped.

    Only 3-D: torch's bf16 `Conv2d` (SigLIP, CLIP, InternViT patch embeddings) has a oneDNN
    path, and the product measured no steadier gain there (0.3-2x either way on this CPU).
    """
    import torch

    if type(conv) is not torch.nn.Conv3d:
        return False
    if conv.weight.dtype != torch.bfloat16 or conv.padding_mode != "zeros":
        return False
    padding = conv.padding if isinstance(conv.padding, tuple) else (conv.padding,)
    return (
        tuple(conv.kernel_size) == tuple(conv.stride)
        and all(p == 0 for p in padding)
        and all(d == 1 for d in conv.dilation)
        and conv.groups == 1
    )


def patch_linear(conv: Any) -> Any:
    """A drop-in for a patch convolution (`is_patch_conv`): patches as rows, one packed product."""
    import torch

    kernel = tuple(int(k) for k in conv.kernel_size)
    channels, out = int(conv.in_channels), int(conv.out_channels)
    weight = conv.weight.detach().reshape(out, -1)  # (out, C * k1 * k2 [* k3]): a patch's order
    bias = None if conv.bias is None else conv.bias.detach()
    dims = len(kernel)

    class PatchLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel_size, self.stride = kernel, kernel
            self.in_channels, self.out_channels = channels, out
            # (no in_features/out_features here: FLOP counters find the inner linear layer);
            # the convolution's own weight stays readable: models read its dtype (1-2 MB)
            self.weight, self.bias = conv.weight, conv.bias
            self.linear = packed_linear(weight, bias, int(weight.shape[1]), out)

        def forward(self, x: Any) -> Any:
            n, spatial = x.shape[0], x.shape[2:]
            if tuple(spatial) == kernel:  # one patch per sample (Qwen-VL's patch rows)
                y = self.linear(x.reshape(n, -1))
                return y.view(n, out, *([1] * dims))
            grid = [s // k for s, k in zip(spatial, kernel, strict=True)]
            # a convolution drops what does not fill a whole patch at the far edges
            ends = [slice(0, g * k) for g, k in zip(grid, kernel, strict=True)]
            x = x[(slice(None), slice(None), *ends)]
            split = [n, channels]
            for g, k in zip(grid, kernel, strict=True):
                split += [g, k]
            # (n, C, g1, k1, g2, k2, ...) -> (n, g1, g2, ..., C, k1, k2, ...): a row per patch
            order = [0, *range(2, 2 + 2 * dims, 2), 1, *range(3, 3 + 2 * dims, 2)]
            rows = x.reshape(split).permute(order).reshape(-1, int(weight.shape[1]))
            y = self.linear(rows).view(n, *grid, out)
            # contiguous, as the convolution's own output (callers `.view` it)
            return y.permute(0, dims + 1, *range(1, dims + 1)).contiguous()

    return PatchLinear()


# MLP layouts: (the linear the activation follows, the activation, a linear after it)
_MLP_NAMES = (
    ("linear_fc1", "act_fn", "linear_fc2"),  # Qwen3-VL, Qwen3.5 vision
    ("fc1", "activation_fn", "fc2"),  # SigLIP (SmolVLM2, Gemma 3), InternViT, CLIP
    ("fc1", "act", "fc2"),
    ("gate_proj", "act_fn", "down_proj"),  # the decoders' gated MLPs
)


def _onednn_activation(act: Any) -> str | None:
    """oneDNN's post-op for `act` ("gelu:tanh", "gelu:none", "swish"), or None."""
    import functools

    import torch

    if type(act) is torch.nn.GELU:
        return f"gelu:{act.approximate}"
    if type(act) is torch.nn.SiLU or type(act).__name__ == "SiLUActivation":
        return "swish"  # (oneDNN's swish with its default alpha 1 is SiLU)
    fn = getattr(act, "act", None)  # transformers' GELUTanh / GELUActivation keep the function
    if type(act).__name__ in ("GELUTanh", "PytorchGELUTanh") and isinstance(fn, functools.partial):
        if fn.func is torch.nn.functional.gelu and fn.keywords == {"approximate": "tanh"}:
            return "gelu:tanh"
    if type(act).__name__ == "GELUActivation" and fn is torch.nn.functional.gelu:
        return "gelu:none"
    return None


def fuse_mlp_activations(core: Any) -> int:
    """Every bf16 MLP of `core` with its GELU / SiLU fused into the product it follows.

    A probe decides: the MLP's output on a few random rows before and after must agree within
    bf16 rounding, or the MLP is put back as it was (a forward that does not apply the
    activation right after that product cannot pass it). Returns how many were fused.
    """
    import torch

    fused = 0
    for mlp in list(core.modules()):
        for first, act_name, second in _MLP_NAMES:
            fc1, act = getattr(mlp, first, None), getattr(mlp, act_name, None)
            fc2 = getattr(mlp, second, None)
            if not (isinstance(fc1, torch.nn.Linear) and isinstance(fc2, torch.nn.Linear)):
                continue
            if type(fc1) is not torch.nn.Linear or type(fc2) is not torch.nn.Linear:
                continue  # (a LoRA or quantised subclass reads its weights itself)
            activation = _onednn_activation(act)
            if activation is None or fc1.weight.dtype != torch.bfloat16:
                continue
            gen = torch.Generator().manual_seed(0)
            probe = torch.randn(8, fc1.in_features, generator=gen).to(torch.bfloat16)
            bias = None if fc1.bias is None else fc1.bias.detach()
            swap = packed_linear(
                fc1.weight.detach(), bias, fc1.in_features, fc1.out_features, activation
            )
            try:
                with torch.inference_mode():
                    before = mlp(probe).float()
                    setattr(mlp, first, swap)
                    setattr(mlp, act_name, torch.nn.Identity())
                    after = mlp(probe).float()
                # a rounding step of the largest output; a wrong structure is off by the values
                same = bool((after - before).abs().max() <= 0.02 * before.abs().max() + 1e-3)
            except Exception:  # takes other inputs than fc1's rows (a patch merger): left alone
                same = False
            if same:
                fused += 1
            else:
                setattr(mlp, first, fc1)
                setattr(mlp, act_name, act)
            break
    return fused
