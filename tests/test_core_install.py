"""The light core: no extras installed, the app's core paths work and torch is never imported.

Runs in both installs. In the core venv (`pip install -e ".[test]"`, no `lvlm` extra) the core
paths run without torch on disk, so a missing core dependency fails here; in the full venv the
paths run in a child process whose `sys.modules` is checked afterwards. Choosing an LVLM
without the extra is simulated in the full venv by making the extras' modules unimportable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cer_desktop.extras import MODULE_EXTRA, MissingExtraError, install_command, is_installed

pytestmark = pytest.mark.core

CORE_PATHS = Path(__file__).with_name("core_paths.py")
ROOT = Path(__file__).resolve().parents[1]
LVLM_HINT = install_command("lvlm")  # pip install "cer-desktop[lvlm]"


def _child(args: list[str], tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "QT_QPA_PLATFORM": "offscreen",
        "CER_DESKTOP_CONFIG_DIR": str(tmp_path / "config"),
        "HOME": str(tmp_path / "home"),  # no user's record folder or settings are touched
    }
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def no_extras(monkeypatch):
    """This process as on a core install: the extras' modules cannot be found or imported."""
    for name in MODULE_EXTRA:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.slow
def test_core_paths_run_and_never_import_torch(tmp_path):
    # Given a clip of a real face, when `cer annotate` (instant tier), `cer report`, `cer
    # recover` and `cer-desktop --smoke` (window, demo, MediaPipe, painter, recorder) run
    work = tmp_path / "work"
    work.mkdir()
    proc = _child([str(CORE_PATHS), str(work)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # then every command succeeded on its own outputs
    assert result["codes"] == {"annotate": 0, "report": 0, "recover": 0, "smoke": 0}, result
    assert result["annotate_rows"] == 12, "one face row per frame of the 12-frame clip"
    assert result["annotate_recognizers"] == ["instant"]
    assert result["smoke"]["smoke"] == "ok", result["smoke"]
    assert result["smoke"]["frames_written"] >= 60
    # and no module of an extra (torch, transformers, peft, ...) was ever imported
    assert result["heavy_modules"] == [], f"the core paths imported {result['heavy_modules']}"


def test_without_the_extra_an_lvlm_choice_names_the_extra(no_extras):
    from cer_desktop.recognition.factory import create_recognizer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    assert not is_installed("torch")
    # When a user chooses an LVLM on the light core, the error names the extra to install
    with pytest.raises(MissingExtraError) as caught:
        create_recognizer(ModelSpec("Qwen/Qwen2-VL-2B-Instruct", quant="nf4"))
    assert caught.value.extra == "lvlm"
    assert LVLM_HINT in str(caught.value)
    assert {"torch", "transformers", "bitsandbytes"} <= set(caught.value.missing)
    # and nothing of the extra was imported while finding that out
    assert all(sys.modules.get(m) is None for m in MODULE_EXTRA)


def test_in_a_bundle_the_message_says_how_to_build_one_with_the_extra(monkeypatch):
    # pip cannot add an extra to a PyInstaller bundle: the message says how to build one
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    message = str(MissingExtraError("the LVLM recognizer", "lvlm", ["torch"]))
    assert "CER_BUNDLE_EXTRAS=lvlm bash scripts/bundle.sh" in message
    assert "missing: torch" in message


def test_without_the_extra_the_command_line_names_it(tmp_path):
    # Given a process in which the extras' modules cannot be imported (as on a core install)
    block = (
        "import sys\n"
        "from cer_desktop.extras import MODULE_EXTRA\n"
        "for m in MODULE_EXTRA: sys.modules[m] = None\n"
        "from cer_desktop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    img = tmp_path / "face.png"
    img.write_bytes(b"")  # never read: the model check comes first
    cases = {
        ("annotate", str(img), "-o", str(tmp_path / "out"), "--model", "Qwen/X"): "lvlm",
        ("bench", "lvlm", "--quick"): "lvlm",
        ("train", str(ROOT / "cer_desktop/resources/recipes/stage1_basic.yaml")): "train",
        ("eval", "--base", "Qwen/X", "--data", str(tmp_path)): "train",
    }
    for argv, extra in cases.items():
        proc = _child(["-c", block, *argv], tmp_path)
        # then each command exits 2 with one line naming the extra, not a traceback
        assert proc.returncode == 2, (argv, proc.stderr[-2000:])
        assert install_command(extra) in proc.stderr, (argv, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (argv, proc.stderr[-2000:])
    # and the core commands still parse and answer (the bench parsers load lazily)
    proc = _child(["-c", block, "annotate", "--help"], tmp_path)
    assert proc.returncode == 0 and "--model" in proc.stdout, proc.stderr[-2000:]


def test_without_the_extra_the_window_names_it(qtbot, no_extras):
    from cer_desktop.gui.main_window import MainWindow
    from cer_desktop.session.choice import RecognizerChoice
    from cer_desktop.settings import AppSettings
    from cer_desktop.testing.fakes import FakeAnalyzer, ListSource, synthetic_frames

    frames = synthetic_frames(5)
    w = MainWindow(
        AppSettings(source="demo"),
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=lambda n, crop: FakeAnalyzer(),
        cameras=[],
        persist=False,
    )
    qtbot.addWidget(w)
    w.show()
    try:
        # When the user chooses an LVLM on the light core
        w.load_model(RecognizerChoice("Qwen/Qwen2-VL-2B-Instruct"))
        qtbot.waitUntil(lambda: "Could not load" in w.statusBar().currentMessage(), timeout=10000)
        # then a message box names the extra, and the window keeps the instant recognizer
        boxes = [c for c in w.findChildren(object) if c.objectName() == "modelErrorBox"]
        assert boxes and LVLM_HINT in boxes[0].text(), [b.text() for b in boxes]
        assert getattr(w.recognizer, "name", None) == "instant"
    finally:
        w.shutdown()


def test_doctor_on_the_light_core_reports_the_extra_as_optional(no_extras):
    from cer_desktop.doctor import _torch_devices, _version

    # An extra that is not installed is a choice, not a problem
    check = _version("transformers")
    assert check.ok and LVLM_HINT in check.detail, check
    assert _torch_devices().ok
    # while a missing core library still is one
    assert not _version("cer_no_such_core_module").ok
