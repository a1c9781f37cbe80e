"""The real app in a real X window (Xvfb) loads a 4-bit model while MediaPipe tracks the demo.

Offscreen Qt hides what a display brings in: with a display MediaPipe opens an EGL context
(Mesa's LLVM), and a model loaded afterwards imported Triton's LLVM and killed the process.
CI installs Xvfb (see .ci/run); elsewhere this test is skipped when `xvfb-run` is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cer_desktop.testing.tiny_models import build_tiny_qwen2vl


@pytest.mark.slow
def test_real_window_loads_a_4bit_model_while_tracking_the_demo(tmp_path: Path) -> None:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (CI installs it)")
    # Given a tiny Qwen2-VL saved locally and a fresh settings folder
    model = build_tiny_qwen2vl(tmp_path / "tiny")
    shot = tmp_path / "window.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(CER_DESKTOP_CONFIG_DIR=str(tmp_path / "config"), HF_HUB_OFFLINE="1")
    app = Path(sys.executable).parent / "cer-desktop"
    # When the app starts on the demo in a real X window and loads the model in 4-bit
    run = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1280x800x24", str(app), "--model", str(model),
         "--quant", "nf4", "--source", "demo", "--auto-quit", "12", "--screenshot", str(shot),
         "--no-save"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Then it runs to its auto-quit without crashing and shows a window
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stderr[-3000:]}"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot of the window"
