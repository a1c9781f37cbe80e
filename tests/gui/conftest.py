"""GUI test set-up: settings in a temporary folder, no real camera listing."""

from __future__ import annotations

import pytest
from window_harness import make_window  # noqa: F401 - the window fixture of the GUI tests


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("CER_DESKTOP_CONFIG_DIR", str(folder))
    return folder
