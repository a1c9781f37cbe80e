"""Under CI=true a skipped test fails; on a developer's machine it stays a skip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.mark.parametrize(("ci", "expected"), [("true", "1 failed"), ("", "1 skipped")])
def test_a_skip_fails_only_under_ci(tmp_path: Path, ci: str, expected: str) -> None:
    # given this suite's conftest and a test that skips for a missing tool
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server here')\n"
    )
    # when pytest runs it with and without CI=true
    env = {"CI": ci, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    # then under CI the skip is a failure that gives the reason; elsewhere a skip
    assert expected in out.stdout, out.stdout + out.stderr
    if ci:
        assert "no server here" in out.stdout and out.returncode == 1
