"""The streams' delivery policy (DROP_WHEN_FULL per stream), face slots, frame values and the
configuration parsing: no stream library needed."""

from __future__ import annotations

import math
import threading
import time

import pytest
from stream_frames import COMPOUND, PAINTED, predicted

from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.sinks import DeliveryPolicy
from cer_desktop.streams.config import (
    StreamsError,
    format_host_port,
    is_loopback,
    marker_query,
    parse_host_port,
)
from cer_desktop.streams.fanout import StreamFanout, StreamOutput, SwitchableSink
from cer_desktop.streams.frame_data import FrameValues, SlotMap, frame_values


class Collecting(StreamOutput):
    """A stream whose consumer can be stalled (`gate` cleared) to test the queue policy."""

    name = "collecting"

    def __init__(self, queue_size: int) -> None:
        super().__init__(queue_size)
        self.gate = threading.Event()
        self.gate.set()
        self.got: list[int] = []

    def _send(self, values: FrameValues) -> None:
        self.gate.wait()
        self.got.append(values.frame_id)


def test_a_stalled_stream_drops_and_counts_while_the_others_get_every_frame() -> None:
    # given a stalled stream with room for 4 frames and a fast one
    stalled, fast = Collecting(4), Collecting(256)
    stalled.gate.clear()
    fan = StreamFanout([stalled, fast], max_faces=2)
    for out in (stalled, fast):
        out.start()
    # when 100 frames are submitted
    worst, results = 0.0, []
    for i in range(100):
        ann = predicted(i)
        t0 = time.perf_counter()
        results.append(fan.submit(ann, PAINTED))
        worst = max(worst, time.perf_counter() - t0)
    stalled.gate.set()
    stalled.close()
    fast.close()
    # then the fast stream got all, the stalled one the first few, the rest counted as drops
    assert fan.policy is DeliveryPolicy.DROP_WHEN_FULL
    assert fast.got == list(range(100)) and fast.dropped == 0
    assert 4 <= len(stalled.got) <= 5, stalled.got  # 4 queued, maybe 1 taken before it stalled
    assert stalled.dropped == 100 - len(stalled.got)
    assert results.count(False) == stalled.dropped, "the pipeline counts each drop"
    assert worst < 0.1, f"submit waited {worst * 1000:.0f} ms"


def test_a_switchable_sink_without_a_target_takes_frames_and_drops_none() -> None:
    sink = SwitchableSink()
    assert sink.submit(predicted(0), PAINTED) is True
    out = Collecting(8)
    out.start()
    sink.target = StreamFanout([out], max_faces=2)
    sink.submit(predicted(1), PAINTED)
    out.close()
    assert out.got == [1]


def test_faces_keep_their_slots_while_tracked_and_new_faces_take_the_lowest_free() -> None:
    slots = SlotMap(2)
    assert slots.assign([3, 8]) == {3: 0, 8: 1}
    assert slots.assign([8]) == {8: 1}
    assert slots.assign([8, 5]) == {8: 1, 5: 0}
    assert slots.assign([8, 5, 9]) == {8: 1, 5: 0}, "no room: the third face has no slot"


def test_frame_values_are_the_csv_values_matched_by_label_name() -> None:
    ann = predicted(4)
    v = frame_values(ann, SlotMap(3))
    assert v.labels == COMPOUND.labels and [f.slot for f in v.faces] == [0, 1]
    assert v.faces[1].probs == ann.faces[1].prediction.probs
    assert v.faces[0].label == ann.faces[0].prediction.top_label
    # a prediction over another set (carried across a set change) is matched by name
    carried = predicted(5, label_set=RAF_BASIC)
    other = type(carried)(carried.frame, carried.faces, COMPOUND)
    v2 = frame_values(other, SlotMap(3))
    assert all(math.isnan(p) for p in v2.faces[0].probs), "no compound label in a basic set"
    m = v.to_message(lsl_offset=2.0)
    assert m["lsl_time"] == pytest.approx(ann.frame.t_capture + 2.0, abs=1e-6)
    assert m["faces"][0]["au"] == {"AU04": 0.25, "AU12": 1.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("9001", ("127.0.0.1", 9001)),
        (":9002", ("127.0.0.1", 9002)),
        ("studio-pc", ("studio-pc", 7000)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_addresses_are_parsed(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 7000) == expected
    assert parse_host_port(format_host_port(*expected), 1) == expected


@pytest.mark.parametrize("bad", ["host:99999", "host:0", "a:b:c", "host:port", "bad host:1"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(StreamsError):
        parse_host_port(bad, 7000)


def test_loopback_and_marker_queries() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert marker_query("PsychoPy markers") == "name='PsychoPy markers'"
    assert marker_query("type=Markers, source_id=exp1") == "type='Markers' and source_id='exp1'"
    with pytest.raises(StreamsError):
        marker_query("colour=red")
