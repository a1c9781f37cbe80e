"""The OSC stream with a real OSC server on 127.0.0.1: every frame arrives as one bundle with
the documented addresses (label slugs) and values."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pythonosc", reason="the streams extra (python-osc) is not installed")
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_server import BlockingOSCUDPServer  # noqa: E402
from stream_frames import COMPOUND, PAINTED, predicted  # noqa: E402

from cer_desktop.streams.config import slug  # noqa: E402
from cer_desktop.streams.fanout import StreamFanout  # noqa: E402
from cer_desktop.streams.osc import OscStream  # noqa: E402


def test_slugs_are_osc_safe_and_documented() -> None:
    assert slug("Happily Surprised") == "happily_surprised"
    assert slug("Disgustedly Surprised") == "disgustedly_surprised"
    assert slug("  Fear / Anger (mixed)") == "fear_anger_mixed"
    assert all(" " not in slug(label) for label in COMPOUND.labels)


def test_every_frame_reaches_a_real_osc_server_with_its_values(free_udp_port: int) -> None:
    # given an OSC server (one thread: datagrams in arrival order) collecting every message
    got: list[tuple[str, tuple]] = []
    lock = threading.Lock()

    def collect(address: str, *args: object) -> None:
        with lock:
            got.append((address, args))

    d = Dispatcher()
    d.set_default_handler(collect)
    server = BlockingOSCUDPServer(("127.0.0.1", free_udp_port), d)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    osc = OscStream("127.0.0.1", free_udp_port)
    fan = StreamFanout([osc], max_faces=3)
    osc.start()
    sent = [predicted(i) for i in range(60)]
    try:
        # when 60 two-face frames are streamed at about 100 per second
        for ann in sent:
            fan.submit(ann, PAINTED)
            time.sleep(0.01)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            with lock:
                if sum(a == "/cer/frame" for a, _ in got) >= 60:
                    break
            time.sleep(0.02)
    finally:
        osc.close()
        server.shutdown()
        server.server_close()
        thread.join(5)
    # then every frame's bundle arrived (nothing lost on loopback) with its capture time
    frames = [args for a, args in got if a == "/cer/frame"]
    assert [f[0] for f in frames] == list(range(60))
    assert frames[9][1] == pytest.approx(sent[9].frame.t_capture, abs=1e-9), "a double, not ms"
    assert osc.sent == 60 and osc.dropped == 0
    # and the face values are under the documented addresses
    last = dict(got[-(len(got) - max(i for i, (a, _) in enumerate(got) if a == "/cer/frame")) :])
    pred = sent[-1].faces[1].prediction
    assert last["/cer/face/1/present"] == (1,) and last["/cer/face/2/present"] == (0,)
    assert last["/cer/face/1/track"] == (8,)
    assert last["/cer/face/1/box"] == (260, 60, 200, 200)
    assert last["/cer/face/1/label"] == (pred.top_label,)
    for label, p in zip(COMPOUND.labels, pred.probs, strict=True):
        assert last[f"/cer/face/1/prob/{slug(label)}"][0] == pytest.approx(p, abs=1e-6)
    assert last["/cer/face/1/au/AU12"][0] == pytest.approx(2.5)
    assert "/cer/face/1/au/AU01" not in last, "an AU without a value is left out"


def test_experiment_and_user_markers_reach_the_osc_stream(free_udp_port: int) -> None:
    from cer_desktop.labels import RAF_BASIC
    from cer_desktop.session.live import LiveSession
    from cer_desktop.session.streams import SessionStreams
    from cer_desktop.streams.config import StreamsConfig
    from cer_desktop.testing.fakes import (
        FakeAnalyzer,
        FixedRecognizer,
        ListSource,
        synthetic_frames,
    )

    # given a live session streaming OSC to a real OSC server
    got: list[tuple[str, tuple]] = []
    d = Dispatcher()
    d.map("/cer/marker", lambda address, *args: got.append((address, args)))
    server = BlockingOSCUDPServer(("127.0.0.1", free_udp_port), d)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    frames = synthetic_frames(10)
    sink = SessionStreams.make_sink()
    session = LiveSession(
        RAF_BASIC,
        recognizer=FixedRecognizer(top="Happiness"),
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=lambda n, crop: FakeAnalyzer(),
        sinks=(sink,),
    )
    streams = SessionStreams(session, sink, max_faces=1)
    try:
        assert session.start("synthetic")
        assert streams.apply(StreamsConfig(osc=f"127.0.0.1:{free_udp_port}")) == []
        # when the marker inlet hands over an experiment's marker and the user adds one
        session.recording.add_marker("stim 7", source="lsl", lsl_time=12.5)
        session.recording.add_marker("look away")
        end = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        streams.close()
        session.shutdown()
        server.shutdown()
        server.server_close()
        thread.join(5)
    # then both reached the OSC server, the experiment's marked as such
    assert [args for _, args in got] == [
        ("experiment marker: stim 7",),
        ("user marker: look away",),
    ]
