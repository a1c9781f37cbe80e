"""The LVLM's device (CUDA, Apple's MPS, CPU), what 4-bit runs as there, and `cer doctor`'s line."""

from __future__ import annotations

import pytest

from cer_desktop.doctor import devices_choice
from cer_desktop.recognition.lvlm.device_plan import auto_device, quant_note
from cer_desktop.recognition.lvlm.spec import ModelSpec


@pytest.mark.parametrize(
    ("cuda", "mps", "device"),
    [(True, False, "cuda"), (True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_device(cuda: bool, mps: bool, device: str) -> None:
    assert auto_device(cuda=cuda, mps=mps) == device


def test_what_4bit_runs_as_per_device() -> None:
    assert quant_note("nf4", "cuda") == "" and quant_note("none", "mps") == ""
    mac = quant_note("nf4", "mps")
    assert mac.startswith("4-bit NF4 runs on the Apple GPU (MPS)") and "slower" in mac
    assert quant_note("int8", "mps").startswith("8-bit (LLM.int8) runs on the Apple GPU")
    assert quant_note("nf4", "cpu").startswith("4-bit NF4 runs on the CPU")


def test_4bit_on_mps_is_allowed_not_refused() -> None:
    # bitsandbytes 0.50's macOS arm64 wheel supports NF4 on MPS (PyTorch fallback kernels)
    spec = ModelSpec(base="some/model", quant="nf4", device="mps")
    assert spec.quantized and spec.device == "mps"


def test_doctor_names_the_device_an_lvlm_gets() -> None:
    assert devices_choice(True, False) == "; an LVLM runs on cuda"
    mac = devices_choice(False, True)
    assert mac.startswith("; an LVLM runs on mps (4-bit NF4 runs on the Apple GPU (MPS)")
    assert devices_choice(False, False).startswith("; an LVLM runs on cpu (4-bit NF4 runs on")
