"""`cer models pull ID` against a fake hub on 127.0.0.1, then the app loads the id offline.

The commands run in subprocesses, as a user runs them: huggingface_hub reads HF_ENDPOINT, HF_HOME
and HF_HUB_OFFLINE when it is imported, so only a fresh process sees the test's values. Nothing
reaches the real hub: the endpoint is always the loopback fake (stopped for the offline half).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fake_hub import FakeHub

REPO = "cer-test/tiny-qwen2vl"
ABSENT = "cer-test/absent"
TIMEOUT = 120  # seconds per command: a hang fails the test instead of blocking the suite

# Loads the pulled id as the app does, scores one face, and tries an id that is not cached.
LOAD_AND_SCORE = """
import json, sys
import numpy as np
from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.loading import ModelNotFoundError, load_base, model_name
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
from cer_desktop.recognition.lvlm.spec import ModelSpec

repo, face, absent = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
model, processor = load_base(ModelSpec(base=repo, device="cpu"))
probs = ClosedSetScorer(model, processor, None, ImageLimits()).score([face], RAF_COMPOUND)[0]
try:
    load_base(ModelSpec(base=absent, device="cpu"))
    error = None
except ModelNotFoundError as exc:
    error = str(exc)
print("RESULT " + json.dumps({"probs": probs.tolist(), "path": model_name(model), "absent": error}))
"""


def _env(hf_home: Path, endpoint: str, offline: bool) -> dict[str, str]:
    """This environment without any Hugging Face or proxy settings, then the test's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE", "TRANSFORMERS_"))
        and not k.lower().endswith("_proxy")
    }
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="1" if offline else "0",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        CER_CPU_BF16="0",  # fp32 in both processes, so the probabilities compare exactly
    )
    if offline:
        env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )


def _port_is_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.slow
def test_pull_then_load_by_hub_id_offline(qwen_dir: Path, tmp_path: Path):
    hf_home = tmp_path.resolve() / "hf-home"  # huggingface_hub resolves symlinks in its paths
    files = sorted(p.relative_to(qwen_dir).as_posix() for p in qwen_dir.rglob("*") if p.is_file())

    # given the tiny model on a fake hub, when `cer models pull` downloads it
    with FakeHub({REPO: qwen_dir}) as hub:
        env = _env(hf_home, hub.url, offline=False)
        pulled = _run(["-m", "cer_desktop", "models", "pull", REPO], env, tmp_path)
        assert pulled.returncode == 0, pulled.stderr
        # the progress bar is not drowned by a log line per HTTP request
        assert "HTTP Request" not in pulled.stderr, pulled.stderr
        commit = hub.repos[REPO].sha
        # then it asked for the repo, its file list, and each file's metadata and bytes once
        assert hub.seen("GET", "/api/") == [
            f"/api/models/{REPO}/revision/main",
            f"/api/models/{REPO}/tree/{commit}",
        ]
        resolve = f"/{REPO}/resolve/{commit}/"
        gets = Counter(p.removeprefix(resolve) for p in hub.seen("GET", resolve))
        heads = Counter(p.removeprefix(resolve) for p in hub.seen("HEAD", resolve))
        assert gets == heads == Counter(files), "every file fetched exactly once"
        assert len(hub.requests) == 2 + 2 * len(files), hub.requests
    assert _port_is_closed(hub.url), "the fake hub is stopped before the offline half"

    # and the printed folder is the cached snapshot under HF_HOME, with the same bytes
    match = re.search(rf"^{re.escape(REPO)} is in (.+); use it with --model", pulled.stdout, re.M)
    assert match, pulled.stdout
    snapshot = Path(match.group(1))
    assert snapshot.is_dir() and snapshot.is_relative_to(hf_home)
    assert snapshot == hf_home / "hub" / "models--cer-test--tiny-qwen2vl" / "snapshots" / commit
    for name in files:
        assert (snapshot / name).read_bytes() == (qwen_dir / name).read_bytes(), name

    # when offline (hub stopped, HF_HUB_OFFLINE=1): `cer models` lists it from the cache
    offline = _env(hf_home, hub.url, offline=True)
    listed = _run(["-m", "cer_desktop", "models"], offline, tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.splitlines()]
    assert ["model", REPO] in [line[:2] for line in lines], listed.stdout
    assert any(line[0] == "model" and line[-1] == str(snapshot) for line in lines)

    # and the app loads it by hub id and scores a face exactly as from the folder itself
    face = np.random.default_rng(7).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    np.save(tmp_path / "face.npy", face)
    scored = _run(
        ["-c", LOAD_AND_SCORE, REPO, str(tmp_path / "face.npy"), ABSENT], offline, tmp_path
    )
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout.split("RESULT ", 1)[1])
    assert result["path"] == str(snapshot), "loaded from the cached snapshot"
    probs = np.array(result["probs"])
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)

    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    model, processor = load_base(ModelSpec(base=str(qwen_dir), device="cpu"))
    expected = ClosedSetScorer(model, processor, None, ImageLimits()).score([face], RAF_COMPOUND)
    assert np.ptp(expected) > 0.01, "the probabilities must differ, or the comparison is vacuous"
    np.testing.assert_allclose(probs, expected[0], atol=1e-5, rtol=0)

    # and an id that was never pulled names the command that would get it
    assert result["absent"] is not None, "a missing id must raise ModelNotFoundError"
    assert f"`cer models pull {ABSENT}`" in result["absent"]


@pytest.mark.slow
def test_pull_of_a_repo_the_hub_does_not_have_fails_clearly(tmp_path: Path):
    hf_home = tmp_path / "hf-home"
    # given a hub without the repo (it answers 404 with X-Error-Code: RepoNotFound)
    with FakeHub({}) as hub:
        # when it is pulled
        env = _env(hf_home, hub.url, offline=False)
        pulled = _run(["-m", "cer_desktop", "models", "pull", ABSENT], env, tmp_path)
        requests = list(hub.requests)
    # then the command fails at once with a message naming the id, and caches nothing
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert f"cannot download {ABSENT!r}" in pulled.stderr
    assert "Repository Not Found" in pulled.stderr
    assert requests == [("GET", f"/api/models/{ABSENT}/revision/main")], "asked once, no retries"
    assert not (hf_home / "hub" / "models--cer-test--absent" / "snapshots").exists()
