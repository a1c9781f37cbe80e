"""Lab Streaming Layer with real pylsl inlets and outlets, each test inside a network
namespace of its own (netns_runner): the expressions outlet read as LabRecorder reads it,
markers from an experiment's outlet in another process, a recording that lines up with them."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pylsl", reason="the streams extra (pylsl) is not installed")

from netns_runner import here_or_in_netns  # noqa: E402
from stream_frames import COMPOUND, PAINTED, predicted  # noqa: E402

from cer_desktop.labels import RAF_BASIC  # noqa: E402
from cer_desktop.recording.csvlog import AU_NAMES, CSV_SCHEMA_VERSION, read_rows  # noqa: E402
from cer_desktop.recording.events import read_events  # noqa: E402
from cer_desktop.streams.config import StreamsConfig  # noqa: E402
from cer_desktop.streams.hub import StreamHub  # noqa: E402
from cer_desktop.streams.lsl_out import (  # noqa: E402
    EXPRESSIONS_NAME,
    MARKERS_NAME,
    SLOT_HEAD,
    channel_layout,
)
from cer_desktop.testing.netns import in_private_netns  # noqa: E402

SENDER = Path(__file__).with_name("marker_sender.py")


def _pylsl():
    import pylsl

    return pylsl


def _channel_labels(info) -> list[str]:
    ch = info.desc().child("channels").child("channel")
    labels = []
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling()
    return labels


def _pull(inlet, n: int, timeout: float = 5.0) -> list[tuple[list, float]]:
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        sample, ts = inlet.pull_sample(timeout=0.2)
        if sample is not None:
            out.append((sample, ts))
    return out


def test_the_lsl_tests_run_in_a_namespace_with_only_loopback(request) -> None:
    if not here_or_in_netns(request):
        return
    import socket

    assert in_private_netns()
    assert [name for _, name in socket.if_nameindex()] == ["lo"]


def test_the_expressions_outlet_is_read_as_labrecorder_reads_it(request) -> None:
    if not here_or_in_netns(request):
        return
    pylsl = _pylsl()
    # given the LSL streams on, with room for 3 faces, and a first frame that opens the outlet
    hub = StreamHub(StreamsConfig(lsl=True), max_faces=3, fps=30.0, recognizer="fixed")
    try:
        hub.sink.submit(predicted(0), PAINTED)
        found = pylsl.resolve_byprop("name", EXPRESSIONS_NAME, 1, 5.0)
        assert found, "a pylsl inlet must resolve the expressions outlet"
        inlet = pylsl.StreamInlet(found[0], max_buflen=30)
        info = inlet.info(5.0)
        markers = pylsl.StreamInlet(pylsl.resolve_byprop("name", MARKERS_NAME, 1, 5.0)[0])
        inlet.open_stream(5.0)
        markers.open_stream(5.0)
        correction = inlet.time_correction(5.0)  # what LabRecorder stores for the XDF
        # when 30 frames are sent, the labels changing at frame 20
        sent = []
        for i in range(1, 31):
            ann = predicted(i, top=0 if i < 20 else 3)
            hub.sink.submit(ann, PAINTED)
            sent.append(ann)
            time.sleep(1 / 60)
        got = _pull(inlet, 30)
        marks = _pull(markers, 8, timeout=2.0)
        # then the header describes the layout, every label and AU, with units and types
        per_face = len(SLOT_HEAD) + len(COMPOUND.labels) + len(AU_NAMES)
        assert info.type() == "Expressions" and info.channel_count() == 3 * per_face
        assert info.nominal_srate() == 30.0
        assert _channel_labels(info) == [c[0] for c in channel_layout(COMPOUND.labels, 3)]
        assert info.desc().child_value("label_set") == COMPOUND.name
        assert info.desc().child_value("recognizer") == "fixed"
        assert info.desc().child("channels").child("channel").child_value("unit") == "id"
        # and every sample arrived, stamped with its frame's capture time on LSL's clock
        assert len(got) == 30, f"{len(got)} of 30 samples read"
        offset = hub.lsl_clock_offset
        for (_sample, ts), ann in zip(got, sent, strict=True):
            assert ts + correction == pytest.approx(ann.frame.t_capture + offset, abs=1e-3)
            assert ts == pytest.approx(ann.frame.t_capture + offset, abs=1e-9), "capture time"
        sample, _ = got[24]
        pred = sent[24].faces[1].prediction
        face1 = sample[per_face : 2 * per_face]
        assert face1[:6] == [8.0, 1.0, 260.0, 60.0, 200.0, 200.0]
        assert face1[6] == COMPOUND.labels.index(pred.top_label)
        assert face1[8 : 8 + 11] == pytest.approx(list(pred.probs), abs=1e-6)
        assert face1[8 + 11 + AU_NAMES.index("AU12")] == pytest.approx(2.5)
        assert sample[2 * per_face + 1] == 0.0, "the empty third slot is marked invalid"
        # and the markers outlet said which label each face changed to, at that frame's time
        texts = {m[0][0]: m[1] for m in marks}
        change = f"face 0 (track 3): {COMPOUND.labels[3]}"
        assert change in texts, texts
        assert texts[change] == pytest.approx(sent[19].frame.t_capture + offset, abs=1e-9)
        # when the label set changes, the outlet is replaced by one with the new layout
        hub.sink.submit(predicted(31, label_set=RAF_BASIC), PAINTED)
        reopened = _pull(markers, 1, timeout=3.0)
        assert reopened and "reopened: label_set=raf_basic faces=3" in reopened[0][0][0]
        new = pylsl.resolve_byprop("source_id", hub.expressions.source_id, 1, 5.0)
        assert new and new[0].channel_count() == 3 * (len(SLOT_HEAD) + 7 + len(AU_NAMES))
        # and so is a change of the session's Faces
        hub.set_max_faces(2)
        hub.sink.submit(predicted(32, label_set=RAF_BASIC), PAINTED)
        again = [m[0][0] for m in _pull(markers, 10, timeout=2.0)]
        assert any("reopened: label_set=raf_basic faces=2" in t for t in again), again
        two = pylsl.resolve_byprop("source_id", hub.expressions.source_id, 1, 5.0)
        assert two and two[0].channel_count() == 2 * (len(SLOT_HEAD) + 7 + len(AU_NAMES))
    finally:
        hub.close()


def _sender(name: str, source_id: str, count: int, interval: float, tag: str = "stim"):
    return subprocess.Popen(
        [sys.executable, str(SENDER), name, source_id, str(count), str(interval), tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _sent(proc: subprocess.Popen) -> list[list]:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_the_inlet_reconnects_when_the_experiment_program_restarts(request) -> None:
    if not here_or_in_netns(request):
        return
    pylsl = _pylsl()
    from cer_desktop.streams.lsl_in import MarkerInlet

    # given an inlet waiting for "experiment" (a stream without a source id: not recoverable
    # by liblsl itself)
    got = []
    inlet = MarkerInlet(pylsl, "name=experiment,type=Markers", got.append)
    inlet.start()
    try:
        # when the experiment sends 3 markers, quits, starts again and sends 3 more
        first = _sent(_sender("experiment", "-", 3, 0.05, "run1"))
        second = _sent(_sender("experiment", "-", 3, 0.05, "run2"))
        time.sleep(0.3)
    finally:
        inlet.close()
    # then all six arrived with their senders' time stamps, over two connections
    assert [m.text for m in got] == [t for t, _ in first + second]
    assert [m.lsl_time for m in got] == pytest.approx([ts for _, ts in first + second], abs=1e-9)
    assert inlet.connections == 2


def test_a_recording_lines_up_experiment_markers_and_frames_by_lsl_time(request, tmp_path) -> None:
    if not here_or_in_netns(request):
        return
    pylsl = _pylsl()
    from cer_desktop.session.live import LiveSession
    from cer_desktop.session.streams import SessionStreams
    from cer_desktop.testing.fakes import (
        FakeAnalyzer,
        FixedRecognizer,
        ListSource,
        synthetic_frames,
    )

    # given a live session streaming to LSL and reading the experiment's "psychopy" markers
    frames = synthetic_frames(30)
    sink = SessionStreams.make_sink()
    session = LiveSession(
        RAF_BASIC,
        recognizer=FixedRecognizer(top="Happiness", name="fixed"),
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=lambda n, crop: FakeAnalyzer(((40, 60, 200, 200), (300, 60, 200, 200))),
        max_faces=2,
        sinks=(sink,),
    )
    streams = SessionStreams(session, sink, max_faces=2)
    xdf: list[tuple[list, float]] = []
    stop = threading.Event()
    try:
        assert session.start("synthetic")
        assert streams.apply(StreamsConfig(lsl=True, lsl_markers="psychopy")) == []
        folder = session.recording.start(tmp_path)
        assert folder is not None

        def record_like_labrecorder() -> None:
            found = pylsl.resolve_byprop("name", EXPRESSIONS_NAME, 1, 5.0)
            inlet = pylsl.StreamInlet(found[0])
            inlet.open_stream(5.0)
            corr = inlet.time_correction(5.0)
            while not stop.is_set():
                sample, ts = inlet.pull_sample(timeout=0.1)
                if sample is not None:
                    xdf.append((sample, ts + corr))

        reader = threading.Thread(target=record_like_labrecorder)
        reader.start()
        # when the experiment (another process) sends 5 markers during the recording
        sent = _sent(_sender("psychopy", "psychopy-test", 5, 0.15))
        time.sleep(0.3)
        session.recording.stop()
        stop.set()
        reader.join(10)
    finally:
        stop.set()
        streams.close()
        session.shutdown()
    # then events.jsonl has every marker with its LSL time and its session time
    markers = [e for e in read_events(folder / "events.jsonl") if e.get("source") == "lsl"]
    assert [m["note"] for m in markers] == [t for t, _ in sent]
    for m, (_, ts) in zip(markers, sent, strict=True):
        assert m["lsl_time"] == pytest.approx(ts, abs=1e-9)
        assert m["lsl_time_local"] == pytest.approx(ts, abs=0.005), "one machine: ~no correction"
        assert m["lsl_stream"] == "psychopy" and m["t"] is not None
    # and frames.csv has lsl_time, one clock with its `t`
    rows = list(read_rows(folder))
    assert rows and "lsl_time" in rows[0]
    lsl = [float(r["lsl_time"]) for r in rows]
    # (`t` is written to 0.1 ms, `lsl_time` to 1 us: their difference moves by t's rounding
    # alone; rounding the difference itself to 1 ms failed when it sat on a half, 28043.8975)
    shift = [float(r["lsl_time"]) - float(r["t"]) for r in rows]
    assert max(shift) - min(shift) <= 1.02e-4, f"lsl_time - t must be constant, got {shift}"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (
        manifest["frames_csv_schema"] == CSV_SCHEMA_VERSION == 4 and "lsl_clock_offset" in manifest
    )
    # and each marker lines up with the frame captured when it was sent (within a frame)
    for m in markers:
        nearest = min(range(len(rows)), key=lambda i: abs(lsl[i] - m["lsl_time_local"]))
        assert abs(lsl[nearest] - m["lsl_time_local"]) <= 1 / 30 + 0.01
        assert float(rows[nearest]["t"]) == pytest.approx(m["t"], abs=1 / 30 + 0.01)
    # and what an XDF file would hold lines up with frames.csv row by row
    # (the XDF reader adds LabRecorder's clock correction: ~10 us on one machine; frames are
    # 33 ms apart, so a match within 1 ms is that frame and no other)
    face0 = sorted((float(r["lsl_time"]), r) for r in rows if r["face_id"] == "0")
    times = [t for t, _ in face0]
    during = [(s, ts) for s, ts in xdf if times[0] - 0.001 <= ts <= times[-1] + 0.001]
    assert len(during) >= 60, f"only {len(during)} samples during the recording"
    matched = []
    for s, ts in during:
        i = min(bisect.bisect_left(times, ts), len(times) - 1)
        best = min((j for j in (i - 1, i) if j >= 0), key=lambda j: abs(times[j] - ts))
        assert abs(times[best] - ts) < 0.001, f"sample at {ts} has no frame in frames.csv"
        matched.append((s, face0[best][1]))
    per_face = len(SLOT_HEAD) + 7 + len(AU_NAMES)
    for s, r in matched:
        assert s[0] == 0.0 and s[1] == 1.0  # track 0 in slot 0
        assert s[8 : 8 + 7] == pytest.approx(
            [float(r[f"p_{lab}"]) for lab in RAF_BASIC.labels], abs=1e-4
        )
    assert len(s) == 2 * per_face
