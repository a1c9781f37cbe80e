"""Beside the live view an LVLM gets all cores but one (or what the user sets)."""

from __future__ import annotations

import os

from cer_desktop.recognition.live_threads import limit_for_live_view, live_torch_threads


def test_all_cores_but_one_unless_told(monkeypatch):
    monkeypatch.delenv("CER_LIVE_TORCH_THREADS", raising=False)
    assert live_torch_threads() == max(1, (os.cpu_count() or 1) - 1)
    monkeypatch.setenv("CER_LIVE_TORCH_THREADS", "3")
    assert live_torch_threads() == 3
    assert live_torch_threads(5) == 5, "an explicit request wins"


def test_torch_is_limited_and_can_be_restored(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("CER_LIVE_TORCH_THREADS", "1")
    try:
        assert limit_for_live_view() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
