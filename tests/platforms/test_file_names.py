"""Names and paths valid on Windows, and text files opened with an explicit encoding."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cer_desktop.annotate.inputs import expand_inputs
from cer_desktop.portable import filenames
from cer_desktop.portable.filenames import WINDOWS_MAX_PATH, path_too_long, safe_name
from cer_desktop.recording.recorder import SessionRecorder
from cer_desktop.recording.session_folder import (
    LONGEST_FILE_NAME,
    RecordingError,
    check_session_path,
    new_session_folder,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("session-20261207-07:58:00", "session-20261207-07_58_00"),
        ('a<b>c:"d"/e\\f|g?h*', "a_b_c__d__e_f_g_h_"),
        ("CON", "_CON"),
        ("nul.mp4", "_nul.mp4"),
        ("com1", "_com1"),
        ("LPT9.csv", "_LPT9.csv"),
        ("console", "console"),
        ("clip. ", "clip"),
        ("...", "input"),
        ("tab\there", "tab_here"),
        ("Gesicht_Überraschung", "Gesicht_Überraschung"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_long_names_are_cut_and_stay_apart() -> None:
    a, b = safe_name("x" * 300 + "a"), safe_name("x" * 300 + "b")
    assert len(a) == len(b) == 100 and a != b


def test_session_folders_are_named_without_colons(tmp_path: Path) -> None:
    folder = new_session_folder(tmp_path)
    assert ":" not in folder.name and folder.name == safe_name(folder.name)


def test_annotate_names_inputs_validly_on_windows(tmp_path: Path) -> None:
    # (not created: on Windows "con.mp4" is the console; a missing input is still listed)
    (item,) = expand_inputs([tmp_path / "con.mp4"])
    assert item.name == "_con.mp4"


def test_windows_path_length_is_checked_before_recording(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * (WINDOWS_MAX_PATH - len(str(tmp_path)) - len(LONGEST_FILE_NAME)))
    assert path_too_long(deep, LONGEST_FILE_NAME, os_name="linux") is None
    assert path_too_long(deep, LONGEST_FILE_NAME, os_name="macos") is None
    assert "Windows opens at most 259" in path_too_long(deep, LONGEST_FILE_NAME, os_name="windows")
    with pytest.raises(RecordingError, match="closer to the drive's root"):
        check_session_path(deep, os_name="windows")
    check_session_path(tmp_path / "short", os_name="windows")


def test_the_recorder_refuses_a_too_long_folder_on_windows(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(filenames, "current_os", lambda: "windows")
    deep = tmp_path / ("d" * 100) / ("e" * 100) / ("f" * 100)
    with pytest.raises(RecordingError, match="characters long"):
        SessionRecorder(deep)
    assert not (tmp_path / ("d" * 100)).exists()  # refused before anything was written


def _text_io_without_encoding(tree: ast.AST) -> list[int]:
    """Lines that open a text file (open/Path.open/read_text/write_text) without an encoding."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        kwargs = {k.arg for k in node.keywords}
        if "encoding" in kwargs:
            continue
        if name in ("read_text", "write_text"):
            positional_encoding = len(node.args) >= (2 if name == "write_text" else 1)
            if not positional_encoding:
                lines.append(node.lineno)
        elif name == "open" and (isinstance(func, ast.Name) or _is_path_open(func)):
            args = node.args if isinstance(func, ast.Name) else [None, *node.args]
            mode = (
                args[1]
                if len(args) > 1
                else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            text = mode is None or (isinstance(mode, ast.Constant) and "b" not in str(mode.value))
            if text:
                lines.append(node.lineno)
    return lines


def _is_path_open(func: ast.Attribute) -> bool:
    # Path(...).open / (folder / "x").open / path.open; not av.open, os.open, source.open()
    target = func.value
    if isinstance(target, ast.Name):
        return target.id in ("path", "p", "f", "part", "csv_path", "out", "root")
    return isinstance(target, (ast.BinOp, ast.Call))


def test_text_files_are_opened_with_an_explicit_encoding() -> None:
    # Windows' default encoding is the ANSI code page (cp1252...), not UTF-8
    sample = "open('a')\nPath('x').write_text('y')\nopen('b', 'rb')\nopen('c', encoding='utf-8')\n"
    assert _text_io_without_encoding(ast.parse(sample)) == [1, 2]
    found = []
    for path in sorted((ROOT / "cer_desktop").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}:{n}" for n in _text_io_without_encoding(tree)]
    assert found == []


def _shell_calls(tree: ast.AST) -> list[int]:
    """Lines that run a shell: `shell=` anything but False, `os.system`, `os.popen`."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_shell = any(
            k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in node.keywords
        )
        is_os_call = (
            isinstance(func, ast.Attribute)
            and func.attr in ("system", "popen")
            and isinstance(func.value, ast.Name)
            and func.value.id == "os"
        )
        if is_shell or is_os_call:
            lines.append(node.lineno)
    return lines


def test_no_shell_commands() -> None:
    # paths go to programs as arguments, never through a shell (quoting differs by OS)
    sample = "import os, subprocess\nsubprocess.run('x', shell=True)\nos.system('y')\n"
    assert _shell_calls(ast.parse(sample)) == [2, 3]
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "cer_desktop").rglob("*.py"))
        for n in _shell_calls(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == []
