"""`pull` reports per-file progress and stops when cancelled (the hub call is faked: no
download in tests)."""

from __future__ import annotations

import threading

import pytest

from cer_desktop.recognition.lvlm import commands


def fake_snapshot_download(files: int):
    def download(repo_id, revision=None, tqdm_class=None):
        # as huggingface_hub does: one overall bar, updated once per file fetched
        bar = tqdm_class(total=files, desc=f"Fetching {files} files", disable=True)
        for _ in range(files):
            bar.update(1)
        bar.close()
        return f"/cache/{repo_id}"

    return download


def test_pull_reports_each_file(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download(4))
    seen: list[tuple[float, str]] = []
    path = commands.pull("org/model", progress=lambda f, t: seen.append((f, t)))
    assert path == "/cache/org/model"
    assert [f for f, _ in seen] == [0.25, 0.5, 0.75, 1.0] and seen[-1][1] == "4 of 4 files"


def test_a_cancelled_pull_stops(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download(4))
    cancel = threading.Event()
    seen: list[float] = []

    def progress(f: float, text: str) -> None:
        seen.append(f)
        if f >= 0.5:
            cancel.set()

    with pytest.raises(commands.DownloadCancelled):
        commands.pull("org/model", progress=progress, cancel=cancel)
    assert seen == [0.25, 0.5], "no file is fetched after the cancel"
