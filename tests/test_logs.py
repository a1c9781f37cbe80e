"""A quiet console, everything in the rotating log file, --verbose prints all."""

from __future__ import annotations

import logging

import pytest

from cer_desktop.logs import setup_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize("verbose", [False, True])
def test_third_party_noise_stays_off_the_console_unless_verbose(
    tmp_path, monkeypatch, capsys, restore_root_logger, verbose
):
    monkeypatch.setenv("CER_DESKTOP_LOG_DIR", str(tmp_path))
    path = setup_logging(verbose, capture_native=False)
    assert path == tmp_path / "cer-desktop.log"
    logging.getLogger("bitsandbytes.cextension").warning("Failed to load CPU gemm_4bit_forward")
    logging.getLogger("cer_desktop.session.live").warning("Cannot open camera:3")
    logging.getLogger("absl").info("absl chatter")
    for h in logging.getLogger().handlers:
        h.flush()
    console = capsys.readouterr().err
    logged = path.read_text()
    assert "Cannot open camera:3" in console, "the app's own warnings stay on the console"
    assert ("gemm_4bit_forward" in console) is verbose
    assert ("absl chatter" in console) is verbose
    assert "gemm_4bit_forward" in logged and "Cannot open camera:3" in logged
    assert "absl chatter" in logged, "the log file keeps INFO messages"
