"""MediaPipe is imported after Triton's native library, so a model loaded later cannot crash."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def test_triton_is_loaded_before_mediapipe_in_a_fresh_process() -> None:
    # Given a torch build that ships Triton (CUDA builds on Linux do; then the crash is possible)
    if importlib.util.find_spec("triton") is None:
        pytest.skip("this torch build has no Triton: nothing can clash with MediaPipe's GL")
    # When a fresh process imports MediaPipe the app's way
    code = (
        "import sys\n"
        "from cer_desktop.vision.mp_import import import_mediapipe\n"
        "import_mediapipe()\n"
        "names = list(sys.modules)\n"
        "print(names.index('triton') < names.index('mediapipe'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    # Then Triton (and its LLVM) was loaded first
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True", out.stdout
