"""Fixtures of the remote tests: the real vLLM CPU server's venv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cer_desktop.testing import vllm_server


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The vLLM server venv's python; skipped without one, failed under CI=true."""
    python = vllm_server.vllm_python()
    if python is None:
        reason = f"no vLLM server venv (run scripts/vllm-venv.sh; ${vllm_server.VENV_ENV})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return python
