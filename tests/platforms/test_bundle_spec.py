"""The PyInstaller spec's Windows and macOS branches, evaluated here with the OS injected.

The spec runs as PyInstaller runs it (its globals: SPECPATH, workpath, Analysis, PYZ, EXE,
COLLECT, BUNDLE), with stand-ins that record what each build step was given, and PyInstaller's
hooks stubbed (the collected files are not what this checks). The icons it generates are real
files, read back with Pillow. The Linux branch is also built for real by scripts/bundle.sh
(CI), whose frozen --smoke must pass.
"""

from __future__ import annotations

import plistlib
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "cer-desktop.spec"


class Step:
    """Records one PyInstaller build step's arguments."""

    calls: list[tuple[str, tuple, dict]]

    def __init__(self, kind: str, calls: list) -> None:
        self.kind, self.calls = kind, calls

    def __call__(self, *args, **kwargs):
        self.calls.append((self.kind, args, kwargs))
        return types.SimpleNamespace(kind=self.kind, scripts=[], pure=[], binaries=[], datas=[])


def evaluate_spec(os_name: str, tmp_path: Path, monkeypatch) -> dict[str, dict]:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda *a, **k: []
    hooks.collect_submodules = lambda *a, **k: []
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setenv("CER_BUNDLE_PLATFORM", os_name)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the spec prepends to it
    calls: list = []
    namespace = {
        "SPECPATH": str(SPEC.parent),
        "workpath": str(tmp_path / "build"),
        "__file__": str(SPEC),
        **{k: Step(k, calls) for k in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")},
    }
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    steps: dict[str, dict] = {}
    for kind, _args, kwargs in calls:
        assert kind not in steps, f"{kind} called twice"
        steps[kind] = kwargs
    return steps


def test_windows_builds_a_windowed_exe_folder_with_an_ico(tmp_path, monkeypatch):
    steps = evaluate_spec("windows", tmp_path, monkeypatch)
    assert set(steps) == {"Analysis", "PYZ", "EXE", "COLLECT"}  # a folder, no .app
    exe = steps["EXE"]
    assert exe["name"] == "cer-desktop" and exe["console"] is False
    ico = Path(exe["icon"])
    assert ico.suffix == ".ico" and ico.is_relative_to(tmp_path / "build")  # generated there
    with Image.open(ico) as im:
        assert im.format == "ICO" and (256, 256) in im.ico.sizes() and (16, 16) in im.ico.sizes()
    assert steps["COLLECT"]["name"] == "cer-desktop"


def test_macos_builds_an_app_that_asks_for_the_camera(tmp_path, monkeypatch):
    steps = evaluate_spec("macos", tmp_path, monkeypatch)
    assert set(steps) == {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"}
    bundle = steps["BUNDLE"]
    assert bundle["name"] == "cer-desktop.app"
    icns = Path(bundle["icon"])
    with Image.open(icns) as im:
        assert im.format == "ICNS" and im.size == (1024, 1024)
    plist = bundle["info_plist"]
    assert "camera" in plist["NSCameraUsageDescription"]
    assert plist["LSMinimumSystemVersion"] in ("13.0", "14.0")
    plistlib.dumps(plist)  # serialisable as PyInstaller writes it
    assert steps["EXE"]["console"] is False and steps["EXE"]["icon"] == str(icns)


def test_linux_builds_the_folder_as_before(tmp_path, monkeypatch):
    steps = evaluate_spec("linux", tmp_path, monkeypatch)
    assert set(steps) == {"Analysis", "PYZ", "EXE", "COLLECT"}
    assert steps["EXE"]["icon"].endswith("cer-desktop.png")
    assert not (tmp_path / "build" / "icons").exists()  # no icon conversion needed


@pytest.mark.parametrize("os_name", ["windows", "macos", "linux"])
def test_the_extras_stay_out_of_a_core_bundle(os_name, tmp_path, monkeypatch):
    monkeypatch.delenv("CER_BUNDLE_LVLM", raising=False)
    excludes = evaluate_spec(os_name, tmp_path, monkeypatch)["Analysis"]["excludes"]
    assert "torch" in excludes and "transformers" in excludes
