"""The window's streams: remembered settings start them, a real WebSocket client gets the
window's frames, the status bar counts it, the Streams page switches them off; the command
line's stream flags; markers shown in the timeline."""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("websockets", reason="the streams extra (websockets) is not installed")
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from cer_desktop.gui.app import _apply_stream_args, build_parser  # noqa: E402
from cer_desktop.settings import AppSettings  # noqa: E402


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_remembered_streams_start_with_the_window_and_the_page_turns_them_off(
    make_window, qtbot
) -> None:
    # given settings that remember a WebSocket server and an OSC destination
    ws_port, osc_port = _free_port(), _free_port(socket.SOCK_DGRAM)
    settings = AppSettings(
        source="demo",
        stream_ws=True,
        stream_ws_address=f"127.0.0.1:{ws_port}",
        stream_osc=True,
        stream_osc_address=f"127.0.0.1:{osc_port}",
    )
    w = make_window(settings)
    qtbot.waitUntil(lambda: w.session.running, timeout=10000)
    # when a client connects
    with connect(f"ws://127.0.0.1:{ws_port}/") as client:
        message = json.loads(client.recv(timeout=10))
        # then it gets the window's frames with the label painted on the face
        assert message["type"] == "frame" and message["label_set"] == w.session.label_set.name
        qtbot.waitUntil(lambda: any(m["faces"] for m in [json.loads(client.recv(timeout=10))]))
        w.stream_controls.refresh()
        status = w.stream_controls.label.text()
        assert f"WebSocket ws://127.0.0.1:{ws_port} (1 client)" in status, status
        assert f"OSC → 127.0.0.1:{osc_port}" in status
        # when the Streams page switches the WebSocket off and is accepted
        page = w.stream_controls.open_page()
        page.ws.setChecked(False)
        page._on_ok()
        # then the client is disconnected, the settings remember it, the status bar says so
        with pytest.raises((ConnectionClosed, TimeoutError)):
            for _ in range(200):
                client.recv(timeout=5)
    assert w.settings.stream_ws is False and w.settings.stream_osc is True
    assert "WebSocket" not in w.stream_controls.label.text()
    assert w.settings.stream_ws_address == f"127.0.0.1:{ws_port}", "the address is kept"


def test_the_page_refuses_a_bad_address(make_window) -> None:
    w = make_window(AppSettings(source="demo"))
    page = w.stream_controls.open_page()
    page.osc.setChecked(True)
    page.osc_address.setText("127.0.0.1:99999")
    assert page.apply() is False
    assert "65535" in page.problem.text()
    assert w.settings.stream_osc is False, "nothing is stored from a refused page"
    page.close()


def test_a_marker_is_drawn_in_the_timeline(make_window, qtbot) -> None:
    w = make_window(AppSettings(source="demo"))
    qtbot.waitUntil(lambda: w.session.running, timeout=10000)
    w.session.recording.add_marker("stimulus 12 on", source="lsl")
    qtbot.waitUntil(lambda: len(w.face_panel.markers) == 1, timeout=5000)


def test_stream_flags_switch_streams_on_in_the_settings() -> None:
    s = AppSettings()
    args = build_parser().parse_args(
        ["--lsl", "--ws", "0.0.0.0:9999", "--osc", "9001", "--lsl-markers", "psychopy"]
    )
    assert _apply_stream_args(args, s) == ""
    assert s.stream_lsl and s.stream_ws and s.stream_osc
    assert (s.stream_ws_address, s.stream_osc_address) == ("0.0.0.0:9999", "127.0.0.1:9001")
    assert s.stream_lsl_markers == "psychopy"
    bad = build_parser().parse_args(["--ws", "host:99999"])
    assert "65535" in _apply_stream_args(bad, AppSettings())


@pytest.mark.slow
def test_cer_desktop_ws_flag_serves_the_demo_and_remembers_it(tmp_path) -> None:
    import os
    import subprocess
    import sys
    import time

    from websockets.exceptions import InvalidHandshake

    # given the app started with --ws on a free port (its settings in a temporary folder)
    port = _free_port()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CER_DESKTOP_CONFIG_DIR": str(tmp_path / "cfg"),
        "CER_DESKTOP_LOG_DIR": str(tmp_path / "logs"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cer_desktop.gui.app", "--source", "demo", "--auto-quit", "40",
         "--ws", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    labelled = None
    try:
        end = time.monotonic() + 35
        while labelled is None and time.monotonic() < end:
            try:
                with connect(f"ws://127.0.0.1:{port}/", open_timeout=2) as client:
                    while labelled is None:
                        m = json.loads(client.recv(timeout=10))
                        if any(f["label"] for f in m["faces"]):
                            labelled = m
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                time.sleep(0.5)  # not listening yet: the window is still starting
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    # then a client got the demo face with its label, and the settings remember the stream
    assert labelled is not None, "no labelled frame over the WebSocket within 35 s"
    face = labelled["faces"][0]
    assert face["label"] in [*labelled["labels"], "uncertain"]
    assert all(p is not None for p in face["probs"].values()), "a labelled face has every p"
    saved = json.loads((tmp_path / "cfg" / "settings.json").read_text())
    assert saved["stream_ws"] is True and saved["stream_ws_address"] == f"127.0.0.1:{port}"
