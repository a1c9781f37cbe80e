"""Layering rules: only the gui package imports Qt (import-linter contract in pyproject.toml).

Also runs the linters configured in pyproject.toml: ruff, and mypy over the package.
"""

from __future__ import annotations

import importlib.util
import re
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


def test_benches_and_annotate_compose_through_the_session() -> None:
    """The benches and `cer annotate` run what users run (`LiveSession`, `OfflineSession`):
    none of them builds a pipeline or a recorder by hand."""
    built = re.compile(r"\b(Pipeline|SessionRecorder)\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("bench", "annotate")
        for path in sorted((ROOT / "cer_desktop" / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if built.search(line)
    ]
    assert offenders == [], f"built by hand instead of through session/: {offenders}"


def test_the_window_the_session_and_annotate_make_specs_only_through_the_choice() -> None:
    """One place turns a recognizer choice into a spec (`RecognizerChoice.to_spec`): the
    window, the session layer and `cer annotate` construct no `ModelSpec`/`ServerConfig`."""
    built = re.compile(r"\b(ModelSpec|ServerConfig)\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("gui", "session", "annotate")
        for path in sorted((ROOT / "cer_desktop" / package).rglob("*.py"))
        if path.name != "choice.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if built.search(line)
    ]
    assert offenders == [], f"specs built outside session/choice.py: {offenders}"


def test_recording_never_imports_the_session() -> None:
    """`recording` (the session folder and its writers) sits below `session`: no module of it
    names the session package, not even lazily inside a function."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "cer_desktop" / "recording").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\b(from|import) cer_desktop\.(session|annotate)\b", line)
    ]
    assert offenders == [], offenders


def test_the_live_session_and_its_recording_make_no_circle() -> None:
    """`session/live.py` builds its `SessionRecording`; the recording knows the session only
    as a protocol (`RecordingHost`), not even for type checking."""
    text = (ROOT / "cer_desktop" / "session" / "recording.py").read_text(encoding="utf-8")
    assert "session.live" not in text and "session import live" not in text


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


@pytest.mark.slow
def test_package_type_checks() -> None:
    """mypy passes with the [tool.mypy] settings of pyproject.toml (`files`: the package).

    Its cache is the checkout's own `.mypy_cache` (git ignores it), so it goes with the
    checkout: one per clone in the temp folder left 120 MB behind for every CI clone. A cold
    run takes about 40 s (torch's and transformers' stubs), a warm one a couple of seconds.
    """
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed; it is in the [test] extra")
    cache = ROOT / ".mypy_cache"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
