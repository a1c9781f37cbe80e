"""`cer annotate` at its edges (issue 19): a recognizer that fails, a server that dies, a
variable-rate video, smoothing, and model options without a model. Nothing fails silently."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.annotate import commands as annotate_commands
from cer_desktop.annotate.batch import annotate_one, expand_inputs
from cer_desktop.bench.fault_annotate import DyingServer
from cer_desktop.bench.fault_child import face_frames
from cer_desktop.bench.fault_inputs import write_clip
from cer_desktop.contracts import Annotation, Frame, Prediction, frozen_array
from cer_desktop.labels import RAF_BASIC
from cer_desktop.recording import commands
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.testing.fakes import FailingRecognizer, FixedRecognizer

FRAMES = 6


def _cer(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    annotate_commands.register(sub)
    commands.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three short clips of a real face (MediaPipe finds it in every frame)."""
    folder = tmp_path_factory.mktemp("in")
    paths = []
    for k in range(3):
        frames = face_frames(320, 240, FRAMES)
        write_clip(folder / f"clip{k}.mp4", frames[k:] + frames[:k])
        paths.append(folder / f"clip{k}.mp4")
    return paths


def _one(clip, out, recognizer, **kw):
    [item] = expand_inputs([clip])
    return annotate_one(
        item, out, label_set=RAF_BASIC, make_recognizer=lambda i, s: recognizer, progress=False,
        **kw,
    )  # fmt: skip


# -- defect 1: frames that could not be labelled --------------------------------------------


def test_an_input_whose_recognizer_failed_is_failed_and_redone(clips, tmp_path):
    # given a recognizer that fails on every frame (out of memory, say)
    out = tmp_path / "out"
    r = _one(clips[0], out, FailingRecognizer("CUDA out of memory"))
    # then the input has failed, says how many frames lack labels, and is not finished
    assert r.status == "failed", r
    assert f"{FRAMES} of {FRAMES} frames unlabelled" in r.message, r.message
    assert "CUDA out of memory" in r.message
    m = read_manifest(out / "clip0.mp4")
    assert m["input_complete"] is False and m["unlabelled_frames"] == FRAMES
    # when the same input is annotated again with a recognizer that works
    r = _one(clips[0], out, FixedRecognizer())
    # then it is redone (not skipped as "already annotated") and every row has a label
    assert r.status == "done", r
    rows = list(read_rows(out / "clip0.mp4"))
    assert len(rows) == FRAMES and all(row["label"] and row["fresh"] == "1" for row in rows)


def test_max_recognizer_errors_tolerates_that_many_unlabelled_frames(clips, tmp_path):
    # two of six frames fail
    r = _one(clips[0], tmp_path / "a", FailingRecognizer(ok_calls=4), max_recognizer_errors=1)
    assert r.status == "failed" and "2 of 6 frames unlabelled" in r.message, r.message
    r = _one(clips[0], tmp_path / "b", FailingRecognizer(ok_calls=4), max_recognizer_errors=2)
    assert r.status == "done", r.message
    m = read_manifest(tmp_path / "b" / "clip0.mp4")
    assert m["unlabelled_frames"] == 2 and m["max_recognizer_errors"] == 2


@pytest.mark.slow
def test_a_server_dying_mid_corpus_fails_its_inputs_and_the_next_run_completes_them(
    clips, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("CER_API_KEY", raising=False)
    out = tmp_path / "out"
    args = [*map(str, clips), "-o", str(out), "--no-progress", "--label-set", "raf_basic"]
    args += ["--served-model", "tiny", "--concurrency", "1"]
    # given a server that dies during the second clip's third frame (1 probe on connecting,
    # 1 prompt-length request, 7 labels per frame of one face)
    with DyingServer(die_after=1 + (1 + 7 * FRAMES) + 7 * 3) as server:
        code = _cer("annotate", *args, "--server", server.url)
        assert server.dead, "the server should have died during the run"
    printed = capsys.readouterr()
    # then the run says so: exit 1, the failed inputs named in the summary
    assert code == 1, printed.out
    assert "failed, annotated again by the next run of this command: clip1.mp4, clip2.mp4" in (
        printed.out
    )
    # the clip done before the death is complete; the one it died in is not, and was ended at
    # once (not every remaining frame waited out with retries)
    assert read_manifest(out / "clip0.mp4")["input_complete"] is True
    m = read_manifest(out / "clip1.mp4")
    assert m["input_complete"] is False and "frames unlabelled" in m["failure"], m
    assert m["frames_written"] < FRAMES, "the input went on after the server was gone"
    # the third was not started: one probe found the server down
    assert not (out / "clip2.mp4").exists()
    assert "not started" in printed.out
    # when the server is back, the same command completes exactly what was left
    with DyingServer() as server:
        code = _cer("annotate", *args, "--server", server.url)
    printed = capsys.readouterr()
    assert code == 0, printed.out
    assert "already annotated" in printed.out and printed.out.count("  done ") == 2
    for clip in clips:
        assert read_manifest(out / clip.name)["input_complete"] is True
        rows = list(read_rows(out / clip.name))
        assert len(rows) == FRAMES, clip.name
        assert all(r["label"] and r["fresh"] == "1" for r in rows), "each frame labelled itself"


# -- defect 7: a variable-rate video keeps its times --------------------------------------


def test_a_recording_with_a_capture_gap_keeps_its_times(tmp_path):
    from cer_desktop.recording.recorder import SessionRecorder
    from cer_desktop.recording.video import frame_times

    # given a raw.mp4 the app's own recorder wrote, with a 1.5 s capture gap after frame 5
    times = [i / 30 for i in range(6)] + [1.5 + 5 / 30 + i / 30 for i in range(6)]
    live = tmp_path / "live"
    recorder = SessionRecorder(live, record_raw=True, fps=30.0, block=True)
    for i, (t, image) in enumerate(zip(times, face_frames(320, 240, 12), strict=True)):
        frame = Frame(i, 100.0 + t, datetime.now(UTC), frozen_array(image), "camera")
        recorder.submit(Annotation(frame, (), RAF_BASIC, t_session=t), image)
    recorder.close()
    raw = live / "raw.mp4"
    assert np.allclose(frame_times(raw), times, atol=1e-3), "the recorder kept the gap"
    # when it is annotated
    out = tmp_path / "out"
    assert _cer("annotate", str(raw), "-o", str(out), "--no-progress") == 0
    # then each row's time is the frame's own, gap included, not frame / average fps
    rows = list(read_rows(out / "raw.mp4"))
    assert [int(r["frame"]) for r in rows] == list(range(12)), "a face in every frame"
    t_csv = [float(r["t"]) for r in rows]
    assert np.allclose(t_csv, times, atol=2e-3), list(zip(t_csv, times, strict=True))
    assert np.allclose(frame_times(out / "raw.mp4" / "annotated.mp4"), times, atol=2e-3)


# -- defect 8: smoothing is a choice, off by default, and recorded ------------------------


class _Alternating:
    """Tops label 0 and label 1 in turn: smoothing would blend consecutive frames."""

    name = "alternating"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, faces, label_set):
        self.calls += 1
        n = len(label_set)
        probs = np.full(n, 0.2 / (n - 1))
        probs[self.calls % 2] = 0.8
        return [
            Prediction(f.track_id, f.frame_id, label_set, tuple(probs), recognizer=self.name)
            for f in faces
        ]

    def close(self) -> None:
        pass


def test_annotate_writes_the_recognizers_own_probabilities_unless_asked_to_smooth(clips, tmp_path):
    p0 = f"p_{RAF_BASIC.labels[0]}"
    # by default: no smoothing, and the manifest says so
    assert _one(clips[0], tmp_path / "raw", _Alternating()).status == "done"
    assert read_manifest(tmp_path / "raw" / "clip0.mp4")["smoothing"] == 0.0
    raw = [float(r[p0]) for r in read_rows(tmp_path / "raw" / "clip0.mp4")]
    low = 0.2 / (len(RAF_BASIC) - 1)  # the first call tops label 1, the second label 0...
    assert np.allclose(raw, [low if k % 2 == 0 else 0.8 for k in range(FRAMES)], atol=1e-4), raw
    # asked for: smoothed as the live view does, recorded in the manifest
    r = _one(clips[0], tmp_path / "smooth", _Alternating(), smoothing=0.5)
    assert r.status == "done"
    assert read_manifest(tmp_path / "smooth" / "clip0.mp4")["smoothing"] == 0.5
    smooth = [float(r[p0]) for r in read_rows(tmp_path / "smooth" / "clip0.mp4")]
    assert not np.allclose(smooth[1:], raw[1:], atol=1e-2), "smoothing blends the frames"


def test_the_smoothing_option_reaches_the_manifest(clips, tmp_path):
    out = tmp_path / "out"
    assert (
        _cer("annotate", str(clips[1]), "-o", str(out), "--no-progress", "--smoothing", "0.3") == 0
    )
    assert read_manifest(out / "clip1.mp4")["smoothing"] == 0.3


# -- defect 9: options of a model without the model --------------------------------------


@pytest.mark.parametrize(
    "option", [["--adapter", "runs/a"], ["--quant", "nf4"], ["--device", "cpu"]]
)
def test_model_options_without_a_model_are_refused_as_cer_desktop_refuses_them(
    clips, tmp_path, capsys, option
):
    out = tmp_path / "out"
    code = _cer("annotate", str(clips[0]), "-o", str(out), "--no-progress", *option)
    assert code == 2
    assert f"cer annotate: {option[0]} needs --model BASE" in capsys.readouterr().err
    assert not out.exists(), "nothing annotated with a tier the user did not ask for"


def test_cer_desktop_gives_the_same_error(tmp_path):
    # its own process: the app's logging takes over the process's stderr
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CER_DESKTOP_CONFIG_DIR": str(tmp_path / "cfg"),
        "CER_DESKTOP_LOG_DIR": str(tmp_path / "logs"),
    }
    cmd = [sys.executable, "-m", "cer_desktop.gui.app", "--adapter", "runs/a", "--no-save"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "cer-desktop: --adapter needs --model BASE" in run.stderr


def test_one_probe_tells_a_server_that_answers_from_one_that_is_gone(monkeypatch):
    import socket

    from cer_desktop.annotate.guard import server_down
    from cer_desktop.recognition.remote.client import ServerConfig
    from cer_desktop.testing.remote_server import FakeServer

    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as server:
        assert server_down(ServerConfig(server.url, "tiny")) == ""
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reason = server_down(ServerConfig(f"http://127.0.0.1:{port}/v1", "tiny", retries=3))
    assert "after 1 tries" in reason, f"one probe, no retries: {reason}"
    assert server_down(None) == "", "no server, nothing to probe"
