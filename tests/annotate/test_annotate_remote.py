"""`cer annotate --server ... --served-model ...` against the local test server; `--shard K/N`."""

from __future__ import annotations

import argparse
import csv
import json

import cv2
import numpy as np
import pytest

from cer_desktop.annotate import commands as annotate_commands
from cer_desktop.annotate.shards import ShardError, parse_shard, select_shard
from cer_desktop.recording import commands
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.testing.remote_server import FakeServer


def _cer(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    annotate_commands.register(sub)
    commands.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("CER_API_KEY", raising=False)
    with FakeServer() as s:
        yield s


@pytest.fixture
def stills(tmp_path, astronaut):
    folder = tmp_path / "in"
    folder.mkdir()
    face = cv2.resize(astronaut, (320, 320))
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "b.png"), cv2.cvtColor(face[:, ::-1], cv2.COLOR_RGB2BGR))
    return folder


def test_annotate_with_a_server_labels_every_face_remotely(server, stills, tmp_path, monkeypatch):
    monkeypatch.setenv("CER_API_KEY", "k-123")
    server.api_key = "k-123"
    out = tmp_path / "out"
    code = _cer(
        "annotate", str(stills / "a.png"), str(stills / "b.png"), "-o", str(out),
        "--no-progress", "--label-set", "raf_basic",
        "--server", server.url, "--served-model", "tiny", "--concurrency", "4",
    )  # fmt: skip
    assert code == 0
    sessions = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(sessions) == 2
    for session in sessions:
        rows = list(read_rows(session))
        assert len(rows) == 1 and rows[0]["recognizer"] == "remote"
        probs = np.array([float(v) for k, v in rows[0].items() if k.startswith("p_")])
        assert abs(probs.sum() - 1) < 1e-3 and probs.max() < 0.999, "scores, not a one-hot"
        manifest = read_manifest(session)
        remote = manifest["remote"]
        assert remote["server"] == server.url and remote["served_model"] == "tiny"
        assert remote["scoring_mode"] == "prompt_logprobs" and remote["exact"] is True
        text = json.dumps(manifest) + (session / "manifest.json").read_text()
        assert "k-123" not in text, "the API key is never written"
    labelled = [
        b
        for b in server.bodies
        if b.get("continue_final_message") and isinstance(b["messages"][0]["content"], list)
    ]
    assert len(labelled) == 2 * 7, "7 labels for each of the 2 faces"


def test_annotate_with_an_unknown_model_fails_before_any_input(server, stills, tmp_path, capsys):
    out = tmp_path / "out"
    code = _cer(
        "annotate", str(stills), "-o", str(out), "--no-progress",
        "--server", server.url, "--served-model", "nope",
    )  # fmt: skip
    assert code == 2
    assert "does not serve 'nope'" in capsys.readouterr().err
    assert not any(out.iterdir())


def test_server_and_model_exclude_each_other(stills, tmp_path, capsys):
    code = _cer(
        "annotate", str(stills), "-o", str(tmp_path / "o"), "--server", "http://127.0.0.1:1",
        "--served-model", "m", "--model", "x",
    )  # fmt: skip
    assert code == 2 and "exclude" in capsys.readouterr().err


def test_shards_split_inputs_deterministically_and_completely():
    names = [f"clip_{i:03d}.mp4" for i in range(200)]
    shards = [select_shard(names, names, k, 8) for k in range(8)]
    assert sorted(sum(shards, [])) == sorted(names), "every input in exactly one shard"
    assert all(len(s) > 10 for s in shards), "the split is balanced enough"
    # an input's shard does not depend on the rest of the list (resuming per shard works)
    assert select_shard(names[:50], names[:50], 3, 8) == [n for n in shards[3] if n in names[:50]]
    assert parse_shard("0/8") == (0, 8) and parse_shard("7/8") == (7, 8)
    for bad in ("8/8", "-1/8", "1", "a/b", "0/0"):
        with pytest.raises(ShardError):
            parse_shard(bad)


def test_annotate_shard_option_annotates_only_its_shard(stills, tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        code = _cer(
            "annotate", str(stills / "a.png"), str(stills / "b.png"), "-o", str(out),
            "--no-progress", "--shard", f"{k}/2",
        )  # fmt: skip
        assert code == 0
        outs.append({p.name for p in out.iterdir() if p.is_dir()})
    assert outs[0].isdisjoint(outs[1])
    assert len(outs[0] | outs[1]) == 2


def test_report_merges_the_shards_sessions_into_one_summary(stills, tmp_path, capsys):
    outs = []
    for k in range(2):
        out = tmp_path / f"shard{k}"
        args = [str(stills / "a.png"), str(stills / "b.png"), "-o", str(out), "--no-progress"]
        assert _cer("annotate", *args, "--shard", f"{k}/2", "--label-set", "raf_basic") == 0
        outs.append(out)
    merged = tmp_path / "merged"
    code = _cer("report", str(outs[0]), str(outs[1]), "-o", str(merged))
    assert code == 0
    rows = list(csv.DictReader((merged / "merged_summary.csv").open()))
    assert [r["session"] for r in rows][-1] == "ALL"
    assert len(rows) == 3, "two sessions (one per still) and the pooled row"
    assert rows[-1]["faces"] == "2" and rows[-1]["rows"] == "2"
    for r in rows:
        shares = [
            float(v) for k, v in r.items() if k not in ("session", "faces", "rows", "seconds")
        ]
        assert abs(sum(shares) - 100) < 0.5, r
    assert "| ALL |" in (merged / "merged_summary.md").read_text()
    # a folder that holds no session is reported, the rest still summarised
    (tmp_path / "empty").mkdir()
    code = _cer("report", str(outs[0]), str(tmp_path / "empty"), "-o", str(merged))
    assert code == 1 and "not a session folder" in capsys.readouterr().err


def test_concurrency_overlaps_frames_and_keeps_the_output_in_frame_order(
    server, tmp_path, astronaut
):
    clip = tmp_path / "clip"
    clip.mkdir()
    face = cv2.resize(astronaut, (320, 320))
    for i in range(6):
        cv2.imwrite(
            str(clip / f"{i:02d}.png"), cv2.cvtColor(np.roll(face, 3 * i, 1), cv2.COLOR_RGB2BGR)
        )
    server.prompt_logprobs = False  # first-token mode: one request per face: only frames overlap
    server.latency = 0.2
    rows = {}
    for c in (1, 4):
        server.max_active = 0
        out = tmp_path / f"out{c}"
        args = [
            str(clip),
            "-o",
            str(out),
            "--no-progress",
            "--fps",
            "10",
            "--label-set",
            "raf_basic",
        ]
        assert _cer("annotate", *args, "--server", server.url, "--served-model", "tiny",
                    "--concurrency", str(c)) == 0  # fmt: skip
        rows[c] = [(r["frame"], r["label"]) for r in read_rows(next(out.iterdir()))]
        if c == 1:
            assert server.max_active == 1, "concurrency 1: one request at a time"
        else:
            assert 1 < server.max_active <= c, f"frames overlap: {server.max_active} at once"
    assert rows[1] == rows[4] and len(rows[1]) == 6, "same rows, in frame order"
