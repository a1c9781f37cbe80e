"""Layering rules: only the gui package imports Qt (import-linter contract in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports (import-linter) is not installed; it is in the [test] extra")
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_lists_every_command() -> None:
    from cer_desktop.cli import build_parser

    help_text = build_parser().format_help()
    for command in (
        "annotate",
        "recover",
        "report",
        "train",
        "eval",
        "data",
        "models",
        "bench",
        "doctor",
    ):
        assert command in help_text, f"`cer {command}` is missing from the command line"


def test_code_is_linted_and_formatted() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed; it is in the [test] extra")
    lint = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-3000:]
