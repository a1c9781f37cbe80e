"""Where the app finds MediaPipe's face_landmarker.task, and its fallback without it."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from cer_desktop.vision import landmarker_file as LF


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(LF.ENV_TASK, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "cer-desktop" / "models" / LF.FILE_NAME


def test_without_a_file_the_legacy_mesh_and_geometry_aus_are_used(cache: Path) -> None:
    choice = LF.find_landmarker()
    assert choice.path is None and choice.au_source == "geometry"
    assert "fetch-face-landmarker.sh" in choice.reason
    assert "legacy face mesh, geometry AUs" in choice.describe()


def test_the_cached_file_is_used_when_its_checksum_is_the_pinned_one(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"model")
    monkeypatch.setattr(LF, "TASK_SHA256", hashlib.sha256(b"model").hexdigest())
    choice = LF.find_landmarker()
    assert choice.path == cache and choice.au_source == "blendshapes"
    assert "blendshape AUs" in choice.describe()


def test_a_damaged_cached_file_is_not_used(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"half a download")
    choice = LF.find_landmarker()
    assert choice.path is None and "unexpected sha256" in choice.reason


def test_the_environment_variable_names_a_file_or_turns_the_landmarker_off(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "my.task"
    own.write_bytes(b"a user's own model")
    monkeypatch.setenv(LF.ENV_TASK, str(own))
    assert LF.find_landmarker().path == own  # a user's own file is used as it is
    monkeypatch.setenv(LF.ENV_TASK, str(tmp_path / "missing.task"))
    assert LF.find_landmarker().path is None
    monkeypatch.setenv(LF.ENV_TASK, "none")
    assert LF.find_landmarker().path is None


def test_the_fallback_is_logged_once(cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    LF._warned.clear()
    with caplog.at_level(logging.INFO, logger=LF.__name__):
        assert LF.resolve_task_file() is None
        assert LF.resolve_task_file() is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "legacy face mesh" in messages[0] and "geometry action units" in messages[0]
