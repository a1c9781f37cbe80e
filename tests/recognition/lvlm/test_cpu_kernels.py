"""oneDNN drop-ins: a 3-D patch convolution as one product over its patches gives the same numbers."""

from __future__ import annotations

import pytest
import torch

from cer_desktop.recognition.lvlm.cpu_kernels import is_patch_conv, patch_linear

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN"
)


@pytest.mark.parametrize(
    ("conv", "shape"),
    [
        # Qwen2-VL / Qwen3-VL: one patch per row of pixel values
        (lambda: torch.nn.Conv3d(3, 64, (2, 16, 16), (2, 16, 16)), (10, 3, 2, 16, 16)),
        # several patches per sample, the far edges not a whole patch wide (a conv drops them)
        (lambda: torch.nn.Conv3d(3, 16, (1, 14, 14), (1, 14, 14)), (2, 3, 3, 60, 45)),
        # several patches along every axis, no bias
        (lambda: torch.nn.Conv3d(3, 32, (2, 4, 4), (2, 4, 4), bias=False), (1, 3, 4, 9, 8)),
    ],
)
def test_patch_linear_equals_the_bf16_convolution(conv, shape):
    # given a bf16 patch convolution and an input
    torch.manual_seed(0)
    layer = conv().to(torch.bfloat16)
    x = torch.randn(shape).to(torch.bfloat16)
    assert is_patch_conv(layer)
    with torch.inference_mode():
        # when it runs as a convolution and as its drop-in
        expected = layer(x)
        got = patch_linear(layer)(x)
        reference = layer.float()(x.float())
    # then shapes, layout and values agree (bf16 rounding aside)
    assert got.shape == expected.shape and got.is_contiguous()
    assert got.dtype == torch.bfloat16
    # (a patch taken in the wrong order would be off by the size of the values)
    torch.testing.assert_close(got, expected)  # bf16 tolerances: a rounding step
    err_conv = (expected.float() - reference).abs().max().item()
    err_patch = (got.float() - reference).abs().max().item()
    assert err_patch <= 1.5 * err_conv + 1e-3, f"further from fp32: {err_patch} vs {err_conv}"


def test_only_unpadded_ungrouped_patch_convolutions_are_replaced():
    bf16 = torch.bfloat16
    assert not is_patch_conv(torch.nn.Conv3d(3, 8, 3, 1).to(bf16)), "overlapping kernel"
    assert not is_patch_conv(torch.nn.Conv3d(3, 8, 4, 4, padding=1).to(bf16)), "padded"
    assert not is_patch_conv(torch.nn.Conv3d(4, 8, 4, 4, groups=2).to(bf16)), "grouped"
    assert not is_patch_conv(torch.nn.Conv3d(3, 8, 4, 4)), "fp32 stays as loaded"
    assert not is_patch_conv(torch.nn.Conv2d(3, 8, 4, 4).to(bf16)), "2-D: oneDNN's own path"
    assert is_patch_conv(torch.nn.Conv3d(3, 8, 4, 4).to(bf16))
