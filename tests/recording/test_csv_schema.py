"""frames.csv names the image file of each row for image inputs; the manifest carries the CSV
schema version and the recognizer's version; `cer report` still reads older sessions."""

from __future__ import annotations

import argparse
import csv
import json

import cv2
import pytest

from cer_desktop.annotate import commands as annotate_commands
from cer_desktop.recording import commands
from cer_desktop.recording.csvlog import CSV_SCHEMA_VERSION, read_rows
from cer_desktop.recording.session_folder import read_manifest


def _cer(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    annotate_commands.register(sub)
    commands.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def stills_session(tmp_path_factory, astronaut):
    root = tmp_path_factory.mktemp("schema")
    stills = root / "stills"
    stills.mkdir()
    face = cv2.resize(astronaut, (320, 320))
    for name, img in (("one.png", face), ("two.jpg", face[:, ::-1]), ("three.png", face)):
        cv2.imwrite(str(stills / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out = root / "out"
    assert _cer("annotate", str(stills), "-o", str(out), "--no-progress") == 0
    (session,) = [p for p in out.iterdir() if p.is_dir()]
    return stills, session


def test_each_row_names_its_image_file(stills_session):
    stills, session = stills_session
    rows = list(read_rows(session))
    assert [r["image"] for r in rows] == [
        str(stills / "one.png"),
        str(stills / "three.png"),
        str(stills / "two.jpg"),
    ], "natural order, one row per face, the file beside its probabilities"
    assert (session / "inputs.csv").exists(), "inputs.csv is kept too"
    m = read_manifest(session)
    assert m["frames_csv_schema"] == CSV_SCHEMA_VERSION == 4
    assert "lsl_time" not in rows[0], "lsl_time only in sessions that streamed to LSL"
    assert m["recognizer"] == "instant" and m["recognizer_version"]


def test_every_action_unit_the_instant_tier_measures_has_its_filled_column(stills_session):
    from cer_desktop.recognition.au import AU_NAMES as MEASURED
    from cer_desktop.recording.csvlog import AU_COLUMNS

    _, session = stills_session
    rows = list(read_rows(session))
    assert rows and all(r["label"] for r in rows)
    for au in MEASURED:  # AU41 (lid droop, used for sadness) included
        assert f"{au}_r" in AU_COLUMNS
        assert all(r[f"{au}_r"] != "" for r in rows), au
    # and the columns it does not measure say so by staying empty, not by a made-up 0
    for col in sorted(set(AU_COLUMNS) - {f"{au}_r" for au in MEASURED}):
        assert all(r[col] == "" for r in rows), col


def test_report_reads_a_session_written_before_the_image_column(stills_session, tmp_path):
    import shutil

    _, session = stills_session
    old = tmp_path / "old-session"
    shutil.copytree(session, old, ignore=shutil.ignore_patterns("report"))
    # Given the same session as an older version wrote it: no `image`, `source_frame` or
    # `AU41_r` column, no schema version in the manifest
    with open(old / "frames.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = [c for c in rows[0] if c not in ("image", "source_frame", "AU41_r")]
    with open(old / "frames.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    m = json.loads((old / "manifest.json").read_text())
    del m["frames_csv_schema"]
    (old / "manifest.json").write_text(json.dumps(m))
    # Then `cer report` reads it and finds the same summary as for the new one
    assert _cer("report", str(old)) == 0
    assert _cer("report", str(session)) == 0
    assert (old / "report" / "summary.md").read_text().replace("old-session", "X") == (
        session / "report" / "summary.md"
    ).read_text().replace(session.name, "X")


def test_lsl_time_is_the_capture_time_on_lsl_clock_when_the_session_streams(tmp_path):
    from datetime import UTC, datetime

    import numpy as np

    from cer_desktop.contracts import Annotation, FaceAnnotation, Frame
    from cer_desktop.labels import RAF_BASIC
    from cer_desktop.recording.csvlog import CsvLog
    from cer_desktop.testing.fakes import FixedRecognizer, make_face

    # given a frame captured at monotonic 100.25 s and LSL's clock 12.5 s ahead
    face = make_face(7, 3)
    (pred,) = FixedRecognizer(top="Happiness").predict([face], RAF_BASIC)
    frame = Frame(7, 100.25, datetime.now(UTC), np.zeros((4, 4, 3), np.uint8))
    ann = Annotation(frame, (FaceAnnotation(face, pred, True),), RAF_BASIC)
    for offset, folder in ((12.5, tmp_path / "lsl"), (None, tmp_path / "plain")):
        folder.mkdir()
        log = CsvLog(folder, lsl_offset=offset)
        log.write(ann, 0, 0.0)
        log.close()
    # then the streaming session's rows carry it (last column), the other has no such column
    (row,) = read_rows(tmp_path / "lsl")
    assert float(row["lsl_time"]) == pytest.approx(112.75, abs=1e-6)
    assert list(row)[-1] == "lsl_time" and row["label"] == "Happiness"
    (plain,) = read_rows(tmp_path / "plain")
    assert "lsl_time" not in plain
