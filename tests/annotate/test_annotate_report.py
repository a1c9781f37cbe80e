"""`cer annotate` over a folder with a corrupt file, resuming, and `cer report` on the result."""

from __future__ import annotations

import argparse
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from cer_desktop.annotate import commands as annotate_commands
from cer_desktop.recording import commands
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames

N_CLIP = 10


def _cer(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    annotate_commands.register(sub)
    commands.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def _write_clip(path, image: np.ndarray, n: int, fps: int = 10) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        s.codec_context.time_base = Fraction(1, fps)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(np.roll(image, i, axis=1)), format="rgb24"
            )
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, astronaut):
    """A folder with a 10-frame clip of a real face, two images and a corrupt 'video',
    annotated once."""
    root = tmp_path_factory.mktemp("annotate")
    inputs = root / "inputs"
    stills = inputs / "stills"
    stills.mkdir(parents=True)
    face = cv2.resize(astronaut, (320, 320))
    _write_clip(inputs / "clip.mp4", face, N_CLIP)
    cv2.imwrite(str(stills / "a.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(stills / "b.jpg"), cv2.cvtColor(face[:, ::-1], cv2.COLOR_RGB2BGR))
    (inputs / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is no video" * 50)
    out = root / "out"
    code = _cer(
        "annotate", str(inputs), "-o", str(out), "--no-progress", "--label-set", "raf_basic"
    )
    return inputs, out, code


def test_corrupt_file_is_reported_and_the_rest_annotated(annotated, capsys):
    inputs, out, code = annotated
    assert code == 1, "a failed input makes the exit code non-zero"
    clip = out / "inputs__clip.mp4"
    assert read_manifest(clip)["input_complete"] is True
    assert count_frames(clip / "annotated.mp4") == N_CLIP, "every frame is annotated"
    rows = list(read_rows(clip))
    assert len(rows) == N_CLIP, "one face in each of the 10 frames"
    assert {r["recognizer"] for r in rows} == {"instant"}
    assert all(r["fresh"] == "1" for r in rows), "offline, every frame is recognised"
    # the clip's own timing (10 fps), not processing time
    assert [r["t"] for r in rows[:3]] == ["0.0000", "0.1000", "0.2000"]
    assert not (out / "inputs__broken.mp4").exists(), "no session for an unreadable file"


def test_image_folder_is_one_session_with_its_file_list(annotated):
    _, out, _ = annotated
    stills = out / "inputs__stills__images"
    assert count_frames(stills / "annotated.mp4") == 2
    assert len(list(read_rows(stills))) == 2
    listed = (stills / "inputs.csv").read_text().splitlines()
    assert listed[1].endswith("a.png") and listed[2].endswith("b.jpg")


def test_rerun_skips_finished_inputs_and_retries_failed(annotated, capsys):
    inputs, out, _ = annotated
    before = (out / "inputs__clip.mp4" / "annotated.mp4").stat().st_mtime_ns
    code = _cer(
        "annotate", str(inputs), "-o", str(out), "--no-progress", "--label-set", "raf_basic"
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert "2 already done, 1 failed" in printed, printed
    assert "broken.mp4" in printed
    after = (out / "inputs__clip.mp4" / "annotated.mp4").stat().st_mtime_ns
    assert before == after, "a finished input is not redone"


def test_interrupted_input_is_redone(tmp_path, astronaut):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_clip(inputs / "c.mp4", cv2.resize(astronaut, (320, 320)), 4)
    out = tmp_path / "out"
    assert _cer("annotate", str(inputs / "c.mp4"), "-o", str(out), "--no-progress") == 0
    m = read_manifest(out / "c.mp4")
    m["input_complete"] = False  # as if killed half-way
    (out / "c.mp4" / "manifest.json").write_text(__import__("json").dumps(m))
    assert _cer("annotate", str(inputs / "c.mp4"), "-o", str(out), "--no-progress") == 0
    assert read_manifest(out / "c.mp4")["input_complete"] is True
    assert count_frames(out / "c.mp4" / "annotated.mp4") == 4


def test_report_draws_a_timeline_and_a_table(annotated, capsys):
    _, out, _ = annotated
    session = out / "inputs__clip.mp4"
    assert _cer("report", str(session)) == 0
    png = session / "report" / "timeline.png"
    assert png.stat().st_size > 10_000, "a real plot, not an empty file"
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 600
    table = (session / "report" / "summary.md").read_text()
    assert "| face |" in table
    csv_text = (session / "report" / "summary.csv").read_text().splitlines()
    assert len(csv_text) == 2, "one row per face"
    printed = capsys.readouterr().out
    assert "timeline:" in printed


def test_report_on_a_folder_without_session_fails_clearly(tmp_path, capsys):
    assert _cer("report", str(tmp_path)) == 2
    assert "not a session folder" in capsys.readouterr().err
