"""`cer annotate` deletes only its own unfinished sessions and never writes into its inputs."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

from cer_desktop.annotate.batch import annotate
from cer_desktop.recording.session_folder import read_manifest


def _clip(path, n: int = 3) -> None:
    image = np.full((64, 64, 3), 90, np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.codec_context.time_base = Fraction(1, 10)
        for _ in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture
def clip(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _clip(inputs / "c.mp4")
    return inputs / "c.mp4"


def test_a_folder_of_the_same_name_that_is_not_a_session_is_left_alone(tmp_path, clip):
    # given OUT/c.mp4 already holds the user's own files
    out = tmp_path / "out"
    (out / "c.mp4").mkdir(parents=True)
    (out / "c.mp4" / "thesis.txt").write_text("years of work")
    # when the clip is annotated into OUT
    summary = annotate([clip], out, progress=False)
    # then the folder is untouched and the input is reported as failed, with the reason
    assert (out / "c.mp4" / "thesis.txt").read_text() == "years of work"
    [r] = summary.results
    assert r.status == "failed" and "not an earlier annotation" in r.message, r.message


def test_a_live_session_of_the_same_name_is_left_alone(tmp_path, clip):
    # given OUT/c.mp4 holds an unfinished session that `cer annotate` did not write
    out = tmp_path / "out"
    (out / "c.mp4").mkdir(parents=True)
    manifest = {"status": "recording", "mode": "live", "input_complete": False}
    (out / "c.mp4" / "manifest.json").write_text(json.dumps(manifest))
    (out / "c.mp4" / "frames.csv").write_text("frame\n0\n")
    summary = annotate([clip], out, progress=False)
    assert (out / "c.mp4" / "frames.csv").read_text() == "frame\n0\n"
    assert summary.results[0].status == "failed"


def test_an_unfinished_annotation_of_another_input_is_left_alone(tmp_path, clip):
    # given OUT/c.mp4 is an unfinished annotation of a different c.mp4
    other = tmp_path / "elsewhere"
    other.mkdir()
    _clip(other / "c.mp4")
    out = tmp_path / "out"
    assert annotate([other / "c.mp4"], out, progress=False).results[0].status == "done"
    m = read_manifest(out / "c.mp4")
    m["input_complete"] = False
    (out / "c.mp4" / "manifest.json").write_text(json.dumps(m))
    # when this clip (same name, other path) is annotated into the same OUT
    summary = annotate([clip], out, progress=False)
    # then the other input's session stays
    assert summary.results[0].status == "failed"
    assert read_manifest(out / "c.mp4")["input"] == str((other / "c.mp4").resolve())


def test_an_unfinished_annotation_of_the_same_input_is_redone(tmp_path, clip):
    out = tmp_path / "out"
    assert annotate([clip], out, progress=False).results[0].status == "done"
    m = read_manifest(out / "c.mp4")
    m["input_complete"] = False
    (out / "c.mp4" / "manifest.json").write_text(json.dumps(m))
    (out / "c.mp4" / "stale.txt").write_text("from the interrupted run")
    summary = annotate([clip], out, progress=False)
    assert summary.results[0].status == "done", summary.results[0].message
    assert not (out / "c.mp4" / "stale.txt").exists()


def test_an_output_folder_inside_an_input_is_refused_without_raising(tmp_path, clip):
    # given -o pointing inside the input folder
    inputs = clip.parent
    out = inputs / "annotated"
    # when annotating that folder
    summary = annotate([inputs], out, progress=False)
    # then nothing is written into the input and the input is reported
    assert not out.exists(), "the output was created inside the input"
    [r] = summary.results
    assert r.status == "failed" and "inside" in r.message, r.message


def test_a_failed_source_is_told_by_its_end_reason_not_its_words():
    from cer_desktop.annotate.batch import source_failed
    from cer_desktop.pipeline.stats import EndReason, PipelineStats

    reworded = PipelineStats(end_reason=EndReason.SOURCE_ERROR, last_error="the file ends early")
    assert source_failed(reworded)
    worded = PipelineStats(end_reason=EndReason.END_OF_SOURCE, last_error="Source error: no")
    assert not source_failed(worded)
