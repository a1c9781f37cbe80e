"""Beside the live view an LVLM keeps torch's threads unless a limit is asked for."""

from __future__ import annotations

from cer_desktop.recognition.live_threads import limit_for_live_view, live_torch_threads


def test_no_limit_unless_told(monkeypatch):
    monkeypatch.delenv("CER_LIVE_TORCH_THREADS", raising=False)
    assert live_torch_threads() is None
    monkeypatch.setenv("CER_LIVE_TORCH_THREADS", "3")
    assert live_torch_threads() == 3
    assert live_torch_threads(5) == 5, "an explicit request wins"


def test_torch_is_limited_when_asked(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("CER_LIVE_TORCH_THREADS", raising=False)
        assert limit_for_live_view() == before, "no limit asked: torch keeps its threads"
        monkeypatch.setenv("CER_LIVE_TORCH_THREADS", "1")
        assert limit_for_live_view() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
