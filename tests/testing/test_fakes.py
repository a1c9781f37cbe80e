"""The shared fakes behave as documented (they underpin pipeline tests and benchmarks)."""

from __future__ import annotations

import threading
import time

import pytest

from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
from cer_desktop.testing.fakes import (
    BusyRecognizer,
    FixedRecognizer,
    ListSource,
    make_face,
    synthetic_frames,
)


def test_busy_recognizer_computes_on_one_thread_and_returns_valid_predictions():
    import torch

    # Given a busy recognizer of 60 ms run in a worker thread
    rec = BusyRecognizer(busy_ms=60)
    rec.predict([make_face(0)], RAF_BASIC)  # warm-up: imports, allocation
    out: dict = {}

    def work():
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        out["preds"] = rec.predict([make_face(1, 0), make_face(1, 1)], RAF_COMPOUND)
        out["cpu"] = time.thread_time() - cpu0
        out["wall"] = time.perf_counter() - wall0
        out["threads"] = torch.get_num_threads()

    t = threading.Thread(target=work)
    t.start()
    t.join(30)
    # Then it burned CPU (not a sleep), on one torch thread, and answered every face
    assert out["cpu"] >= 0.06, f"only {out['cpu'] * 1000:.0f} ms of CPU: is it sleeping?"
    assert out["threads"] == 1
    preds = out["preds"]
    assert [p.track_id for p in preds] == [0, 1]
    assert all(abs(sum(p.probs) - 1) < 1e-6 and p.label_set is RAF_COMPOUND for p in preds)
    assert rec.last_checksum > 0


def test_fixed_recognizer_by_name_and_index():
    p = FixedRecognizer(top="Anger", p_top=0.9).predict([make_face(3)], RAF_BASIC)[0]
    assert p.top_label == "Anger" and p.top_prob == pytest.approx(0.9) and p.frame_id == 3
    q = FixedRecognizer(top=0).predict([make_face(3)], RAF_BASIC)[0]
    assert q.top_label == RAF_BASIC.labels[0]


def test_list_source_reads_fails_and_loops():
    frames = synthetic_frames(3, 64, 48)
    with ListSource(frames) as src:
        got = [src.read() for _ in range(4)]
    assert [f.frame_id for f in got[:3]] == [0, 1, 2] and got[3] is None
    with ListSource(frames, loop=True) as src:
        assert [src.read().frame_id for _ in range(5)] == [0, 1, 2, 3, 4]
    from cer_desktop.capture.base import SourceError

    with ListSource(frames, fail_at=1) as src:
        src.read()
        with pytest.raises(SourceError):
            src.read()
