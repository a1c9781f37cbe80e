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


def _vision_mlp(act: str):
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLVisionConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionMLP

    torch.manual_seed(0)
    config = Qwen3VLVisionConfig(hidden_size=64, intermediate_size=256, hidden_act=act)
    return Qwen3VLVisionMLP(config)


@pytest.mark.parametrize("act", ["gelu_pytorch_tanh", "gelu"])
def test_a_vision_mlp_gets_its_gelu_inside_the_first_product(act):
    from cer_desktop.recognition.lvlm.cpu_kernels import fuse_mlp_activations

    # given a vision MLP in fp32 and the same in bf16
    mlp = _vision_mlp(act)
    x = torch.randn(50, 64)
    with torch.inference_mode():
        reference = mlp(x)
        mlp = mlp.to(torch.bfloat16)
        plain = mlp(x.to(torch.bfloat16)).float()
        # when the bf16 one is fused
        assert fuse_mlp_activations(mlp) == 1
        fused = mlp(x.to(torch.bfloat16)).float()
    # then its GELU runs inside fc1's product, and the output is no further from fp32
    assert mlp.linear_fc1.activation == ("gelu:tanh" if act == "gelu_pytorch_tanh" else "gelu:none")
    assert isinstance(mlp.act_fn, torch.nn.Identity)
    err_plain = (plain - reference).abs().max().item()
    err_fused = (fused - reference).abs().max().item()
    assert err_fused <= 1.25 * err_plain + 1e-3, f"fused {err_fused} vs plain {err_plain}"
    assert (fused - plain).abs().max() <= 0.02 * plain.abs().max()


def test_a_gated_decoder_mlp_gets_its_silu_inside_the_gate_product():
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextMLP

    from cer_desktop.recognition.lvlm.cpu_kernels import fuse_mlp_activations

    # given a decoder MLP down(silu(gate(x)) * up(x)) in fp32 and the same in bf16
    torch.manual_seed(0)
    mlp = Qwen3VLTextMLP(Qwen3VLTextConfig(hidden_size=64, intermediate_size=256))
    x = torch.randn(50, 64)
    with torch.inference_mode():
        reference = mlp(x)
        mlp = mlp.to(torch.bfloat16)
        plain = mlp(x.to(torch.bfloat16)).float()
        # when the bf16 one is fused
        assert fuse_mlp_activations(mlp) == 1
        fused = mlp(x.to(torch.bfloat16)).float()
    # then SiLU runs inside the gate's product, up stays as it was, no further from fp32
    assert mlp.gate_proj.activation == "swish" and isinstance(mlp.act_fn, torch.nn.Identity)
    assert type(mlp.up_proj) is torch.nn.Linear
    err_plain = (plain - reference).abs().max().item()
    err_fused = (fused - reference).abs().max().item()
    assert err_fused <= 1.25 * err_plain + 1e-3, f"fused {err_fused} vs plain {err_plain}"


def test_an_mlp_whose_forward_is_not_fc2_gelu_fc1_is_left_as_it_was():
    from cer_desktop.recognition.lvlm.cpu_kernels import fuse_mlp_activations

    class ActFirst(torch.nn.Module):  # the same layers in another order: gelu before fc1
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(64, 256)
            self.fc2 = torch.nn.Linear(256, 64)
            self.act = torch.nn.GELU(approximate="tanh")

        def forward(self, x):
            return self.fc2(self.fc1(self.act(x)))

    torch.manual_seed(0)
    mlp = ActFirst().to(torch.bfloat16)
    fc1, act = mlp.fc1, mlp.act
    assert fuse_mlp_activations(mlp) == 0, "the probe must refuse a different structure"
    assert mlp.fc1 is fc1 and mlp.act is act, "refused: put back as it was"


@pytest.mark.parametrize("family", ["qwen3_vl", "smolvlm", "internvl"])
def test_a_packed_family_model_scores_as_plain_bf16(family, tmp_path, faces):
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.cpu_speed import apply_cpu_speed_mode
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec
    from cer_desktop.testing.families import FAMILIES

    # given a family's tiny model in fp32, in bf16, and in bf16 packed (the app's CPU mode)
    folder = FAMILIES[family].build_tiny(tmp_path / family, init_std=0.05)  # type: ignore[call-arg]
    probs = {}
    for name, dtype in (("fp32", "fp32"), ("plain", "bf16"), ("packed", "bf16")):
        model, processor = load_base(ModelSpec(base=str(folder), dtype=dtype, device="cpu"))
        if name == "packed":
            apply_cpu_speed_mode(model, "packed")
            fused = {m.activation for m in model.modules() if getattr(m, "activation", None)}
            assert fused >= {"swish"} and any(a.startswith("gelu") for a in fused), fused
        # when each scores the same faces
        scorer = ClosedSetScorer(model, processor, None, ImageLimits())
        probs[name] = scorer.score(faces, RAF_COMPOUND)
    # then packed gives the plain bf16 probabilities, and drifts from fp32 no further
    top = probs["plain"].max(axis=1)
    assert top.min() > 1.5 / len(RAF_COMPOUND), "bf16 must not be uniform, or the check is vacuous"
    drift_plain = abs(probs["plain"] - probs["fp32"]).max()
    drift_packed = abs(probs["packed"] - probs["fp32"]).max()
    # (two bf16 computations rounded at different steps: measured 0.9-2.2e-3 apart, each
    # 1.0-3.4e-3 from fp32)
    assert abs(probs["packed"] - probs["plain"]).max() <= 3e-3
    assert drift_packed <= drift_plain + 1e-3, (drift_packed, drift_plain)
