"""The typed session folder: every file name once, a manifest of any version read, the current
one written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cer_desktop.recording.session_folder import (
    FRAMES_CSV_SCHEMA,
    MANIFEST_SCHEMA,
    Manifest,
    ManifestError,
    SessionPaths,
    SessionStatus,
    read_manifest,
)

PACKAGE = Path(__file__).resolve().parents[2] / "cer_desktop"

# A manifest as the first releases wrote it: no `frames_csv_schema`, no `manifest_schema`.
SCHEMA_1_MANIFEST = {
    "app": "cer-desktop",
    "app_version": "0.1.0",
    "status": "complete",
    "started_at": "2026-11-01T10:00:00.000+00:00",
    "ended_at": "2026-11-01T10:01:00.000+00:00",
    "host": "lab-pc",
    "pid": 4242,
    "recognizer": "instant",
    "label_set": "raf_basic",
    "label_sets": ["raf_basic"],
    "labels": ["Surprise", "Fear"],
    "frames_written": 30,
    "csv_rows": 28,
    "files": {"annotated_video": "annotated.mp4", "csv": ["frames.csv"]},
    "au_source": "geometry",
}


def _write(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_a_manifest_from_before_either_schema_key_reads_as_schema_one(tmp_path):
    # given a session written before the CSV and the manifest carried their versions
    folder = _write(tmp_path / "old", SCHEMA_1_MANIFEST)
    # when it is read
    m = Manifest.read(folder)
    # then its CSV is schema 1, its manifest schema 0, and every known key is typed
    assert m.frames_csv_schema == 1, "absent frames_csv_schema means 1 (before `image`)"
    assert m.manifest_schema == 0
    assert m.status is SessionStatus.COMPLETE
    assert (m.frames_written, m.csv_rows, m.pid) == (30, 28, 4242)
    assert m.extra == {"au_source": "geometry"}, "keys it does not know are kept aside"


@pytest.mark.parametrize("csv_schema", [2, 3, 4])
def test_every_frames_csv_schema_written_so_far_is_read_as_written(tmp_path, csv_schema):
    folder = _write(tmp_path / "s", {**SCHEMA_1_MANIFEST, "frames_csv_schema": csv_schema})
    assert Manifest.read(folder).frames_csv_schema == csv_schema


@pytest.mark.parametrize("status", ["recording", "complete", "failed", "recovered"])
def test_every_status_written_so_far_is_read(tmp_path, status):
    folder = _write(tmp_path / status, {**SCHEMA_1_MANIFEST, "status": status})
    assert Manifest.read(folder).status.value == status


def test_writing_an_old_manifest_back_keeps_its_data_and_its_csv_schema(tmp_path):
    # given an old session (as recovery rewrites it)
    folder = _write(tmp_path / "old", SCHEMA_1_MANIFEST)
    m = Manifest.read(folder)
    # when it is written back
    m.update(status=SessionStatus.RECOVERED, recovered_at="now")
    m.write(folder)
    # then the manifest is in the current schema, the CSV still says what is on disk, and
    # nothing it held was lost
    data = read_manifest(folder)
    assert data["manifest_schema"] == MANIFEST_SCHEMA
    assert data["frames_csv_schema"] == 1, "the CSV on disk did not change"
    assert data["status"] == "recovered" and data["recovered_at"] == "now"
    for key, value in SCHEMA_1_MANIFEST.items():
        if key != "status":
            assert data[key] == value, key


def test_a_new_manifest_is_in_the_current_schemas_and_fills_the_documented_spelling():
    m = Manifest.new({"quant": "nf4", "recognizer": "lvlm", "remote": {"url": "x"}})
    data = m.to_dict()
    assert (data["manifest_schema"], data["frames_csv_schema"]) == (
        MANIFEST_SCHEMA,
        FRAMES_CSV_SCHEMA,
    )
    assert data["status"] == "recording" and data["quantisation"] == "nf4"
    assert data["remote"] == {"url": "x"}


def test_an_unknown_status_or_no_manifest_is_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="status"):
        Manifest.read(_write(tmp_path / "odd", {**SCHEMA_1_MANIFEST, "status": "paused"}))
    with pytest.raises(ManifestError, match="not a session folder"):
        Manifest.read(tmp_path)


def test_csv_parts_are_listed_in_part_order(tmp_path):
    paths = SessionPaths(tmp_path)
    for index in (10, 1, 2):
        paths.csv_part(index).write_text("frame\n")
    (tmp_path / "frames.csv.orig").write_text("")  # a recovery's original is not a part
    assert [p.name for p in paths.csv_parts()] == [
        "frames.csv",
        "frames.part2.csv",
        "frames.part10.csv",
    ]


def test_the_session_file_names_are_spelled_in_session_folder_only():
    # Every other module reaches them through SessionPaths (one place to rename a file).
    names = ("manifest.json", "frames.csv", "events.jsonl", "annotated.mp4", "raw.mp4")
    pattern = re.compile("|".join(re.escape(f'"{n}"') + "|" + re.escape(f"'{n}'") for n in names))
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "session_folder.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == [], f"session file names spelled outside session_folder.py: {offenders}"
