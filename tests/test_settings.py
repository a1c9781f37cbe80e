"""App settings: JSON in the config folder; broken files give defaults, never a crash."""

from __future__ import annotations

import json

import pytest

from cer_desktop.settings import AppSettings, load_settings, save_settings, settings_path


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CER_DESKTOP_CONFIG_DIR", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_round_trip(config_dir):
    s = AppSettings(
        source="demo",
        label_set="raf_basic",
        smoothing=0.7,
        max_faces=2,
        model_base="Qwen/Qwen2-VL-2B-Instruct",
        model_quant="nf4",
        threshold=0.4,
    )
    path = save_settings(s)
    assert path == settings_path() == config_dir / "settings.json"
    assert load_settings() == s


def test_missing_file_gives_defaults():
    assert load_settings() == AppSettings()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe", ""])
def test_broken_file_gives_defaults_with_a_warning(config_dir, content, caplog):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(content, encoding="latin-1")
    assert load_settings() == AppSettings()
    assert any("settings" in r.getMessage() for r in caplog.records), "the user should be warned"


def test_bad_fields_fall_back_one_by_one(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(
        json.dumps(
            {
                "smoothing": "high",
                "max_faces": 99,
                "model_quant": "fp3",
                "label_set": "raf_basic",
                "record_raw": 1,
                "unknown": True,
            }
        )
    )
    s = load_settings()
    d = AppSettings()
    assert s.label_set == "raf_basic", "good fields are kept"
    assert (s.smoothing, s.max_faces, s.model_quant, s.record_raw) == (
        d.smoothing,
        d.max_faces,
        d.model_quant,
        d.record_raw,
    )


def test_unwritable_folder_does_not_raise(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("CER_DESKTOP_CONFIG_DIR", str(blocker / "sub"))
    assert save_settings(AppSettings()) is None


def test_a_broken_file_is_kept_before_the_app_saves_over_it(config_dir):
    # given a settings file the user broke with one typo
    config_dir.mkdir(parents=True)
    typo = '{"source": "camera:1", "record_folder": "/data/rec",}'
    (config_dir / "settings.json").write_text(typo)
    # when the app starts on defaults and saves them on exit
    settings = load_settings()
    save_settings(settings)
    # then the user's file is still there beside the new one
    assert (config_dir / "settings.json.broken").read_text() == typo
    assert json.loads((config_dir / "settings.json").read_text())["source"] == settings.source
