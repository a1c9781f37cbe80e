"""The other processes of `cer bench streams`: a receiver per stream and an experiment.

`python -m cer_desktop.bench.streams_peers receive --ws PORT --osc PORT [--lsl] --out FILE`
reads the three streams until SIGTERM or stdin closes, as a lab's tools would (an LSL inlet
with `time_correction()`, a WebSocket client, an OSC server), and writes per stream what it
received and the capture -> received latency of each frame.

`python -m cer_desktop.bench.streams_peers markers NAME COUNT INTERVAL` plays an experiment
program: an LSL marker outlet pushing COUNT markers stamped with `pylsl.local_clock()`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any


def _lsl_reader(stop: threading.Event, out: dict[str, Any], ready: threading.Event) -> None:
    import pylsl

    from cer_desktop.streams.lsl_out import EXPRESSIONS_NAME

    found = pylsl.resolve_byprop("name", EXPRESSIONS_NAME, 1, 30.0)
    if not found:
        out["error"] = "the expressions outlet was not found within 30 s"
        ready.set()
        return
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(10.0)
    correction = inlet.time_correction(10.0)
    ready.set()
    times, latency = out["times"], out["latency_ms"]
    while not stop.is_set():
        # one sample at a time: pull_chunk with a timeout may wait to fill its chunk, which
        # would be counted as latency
        sample, ts = inlet.pull_sample(timeout=0.2)
        if sample is None:
            continue
        now = pylsl.local_clock()
        # the sample time and the receive time on one clock (LabRecorder's correction)
        times.append(ts + correction)
        latency.append((now - (ts + correction)) * 1000.0)
    out["time_correction"] = correction


def _ws_reader(
    port: int, stop: threading.Event, out: dict[str, Any], ready: threading.Event
) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        ready.set()
        while not stop.is_set():
            try:
                text = ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            now = time.monotonic()
            m = json.loads(text)
            if m.get("type") == "frame":
                out["frames"].append(m["frame_id"])
                out["latency_ms"].append((now - m["t_capture"]) * 1000.0)


def _osc_reader(
    port: int, stop: threading.Event, out: dict[str, Any], ready: threading.Event
) -> None:
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    def on_frame(address: str, frame_id: int, t_capture: float, faces: int) -> None:
        out["frames"].append(frame_id)
        out["latency_ms"].append((time.monotonic() - t_capture) * 1000.0)

    d = Dispatcher()
    d.map("/cer/frame", on_frame)
    server = BlockingOSCUDPServer(("127.0.0.1", port), d)
    server.timeout = 0.2
    ready.set()
    while not stop.is_set():
        server.handle_request()
    server.server_close()


def receive(args: argparse.Namespace) -> int:
    stop = threading.Event()
    results: dict[str, dict[str, Any]] = {}
    threads = []
    readers: list[tuple[str, Any, tuple[Any, ...]]] = []
    if args.lsl:
        readers.append(("lsl", _lsl_reader, ()))
    if args.ws:
        readers.append(("ws", _ws_reader, (args.ws,)))
    if args.osc:
        readers.append(("osc", _osc_reader, (args.osc,)))
    readies = []
    for name, fn, extra in readers:
        out: dict[str, Any] = {"frames": [], "times": [], "latency_ms": []}
        results[name] = out
        ready = threading.Event()
        readies.append(ready)
        t = threading.Thread(
            target=fn, args=(*extra, stop, out, ready), name=f"cer-bench-{name}", daemon=True
        )
        t.start()
        threads.append(t)
    for r in readies:
        r.wait(60.0)
    print("ready", flush=True)
    sys.stdin.readline()  # the bench closes stdin (or writes a line) when it is done
    stop.set()
    for t in threads:
        t.join(10.0)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f)
    return 0


def markers(args: argparse.Namespace) -> int:
    import pylsl

    info = pylsl.StreamInfo(
        args.name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"bench-{args.name}"
    )
    outlet = pylsl.StreamOutlet(info)
    if not outlet.wait_for_consumers(60.0):
        print(json.dumps({"error": "no inlet"}), flush=True)
        return 1
    # An experiment starts its trials once the recording is connected: the inlet's first
    # time_correction() (a few round trips, done on connecting) is over by then.
    time.sleep(1.0)
    sent = []
    for i in range(args.count):
        ts = pylsl.local_clock()
        outlet.push_sample([f"trial {i}"], ts)
        sent.append(ts)
        time.sleep(args.interval)
    time.sleep(0.5)
    print(json.dumps(sent), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="streams_peers")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("receive")
    r.add_argument("--ws", type=int, default=0)
    r.add_argument("--osc", type=int, default=0)
    r.add_argument("--lsl", action="store_true")
    r.add_argument("--out", required=True)
    m = sub.add_parser("markers")
    m.add_argument("name")
    m.add_argument("count", type=int)
    m.add_argument("interval", type=float)
    args = p.parse_args(argv)
    return receive(args) if args.cmd == "receive" else markers(args)


if __name__ == "__main__":
    sys.exit(main())
