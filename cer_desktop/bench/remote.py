"""`cer bench remote`: the remote recognizer against a real vLLM server and the local test server.

- `remote_engine`, `remote_vs_local_max_abs_diff`, `requests_per_face`, `remote_ms_per_face`:
  a small Qwen2-VL taught to prefer a different compound label per face (as `cer bench lvlm`)
  is served in fp32 by vLLM from the server venv (`scripts/vllm-venv.sh`); the exact
  (prompt_logprobs) scores of 4 faces x 11 labels are compared with the in-process scorer in
  fp32, and one face's scoring is timed.
- `live_display_fps` (and `live_recognizer_*`): `cer bench pipeline`'s live view (demo source at
  30 fps, real MediaPipe) with the remote recognizer scoring on that vLLM server.
- `annotate_fps_c1`, `annotate_fps_c8`: `cer annotate` throughput over a short clip of one face
  against the local test server in its fixed-latency mode (each request takes 200 ms of wall
  time, requests served concurrently) at concurrency 1 and 8, in the exact mode (11 label
  requests per face); `annotate_fps_first_token_c*` the same with one request per face, where
  only frames in flight together can overlap. `server_max_in_flight_*`: the most requests the
  server saw at once.

Run it under the shared lock (`flock /work/bench.lock cer bench remote --json`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--faces", type=int, default=4, help="faces scored against vLLM")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions of one face")
    p.add_argument("--frames", type=int, default=12, help="clip frames for the annotate figures")
    p.add_argument("--latency", type=float, default=0.2, help="test server seconds per request")
    p.add_argument("--skip-vllm", action="store_true", help="only the local test server part")
    p.add_argument(
        "--server-cpus",
        default=None,
        help="run vLLM on these cores only, e.g. 1 (taskset and vLLM's OMP binding) and the "
        "app on the others: a stand-in for a server on another machine",
    )
    p.add_argument(
        "--live-seconds", type=float, default=10.0, help="live view scored by vLLM (0: skip)"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cer_bench_remote_") as tmp:
        root = Path(tmp)
        if not args.skip_vllm:
            result.update(_vllm_part(args, root))
        result.update(_annotate_part(args, root))
    return result


def _vllm_part(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import numpy as np

    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec
    from cer_desktop.recognition.remote.client import ServerConfig
    from cer_desktop.recognition.remote.recognizer import RemoteRecognizer
    from cer_desktop.testing import vllm_server

    python = vllm_server.vllm_python()
    if python is None:
        raise SystemExit("cer bench remote: no vLLM server venv; run scripts/vllm-venv.sh")
    folder = vllm_server.build_taught_model(root, args.faces)
    faces = vllm_server.faces(args.faces)
    model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
    local = ClosedSetScorer(model, processor, None, ImageLimits()).log_likelihoods(
        faces, RAF_COMPOUND
    )
    del model
    out: dict[str, Any] = {"remote_engine": f"vllm {vllm_server.vllm_version(python)}"}
    t0 = time.perf_counter()
    server = vllm_server.VLLMServer(
        python, folder, "tiny-cer", log_path=root / "vllm.log", cpus=args.server_cpus
    )
    out["server_cpus"] = args.server_cpus or "all"
    with server as srv:
        out["vllm_ready_s"] = round(time.perf_counter() - t0, 1)
        rec = RemoteRecognizer(ServerConfig(srv.url, "tiny-cer", timeout=300))
        try:
            out["remote_engine"] = rec.info.engine
            out["remote_mode"] = rec.mode
            remote = rec.log_likelihoods(faces, RAF_COMPOUND)
            out["remote_vs_local_max_abs_diff"] = float(np.abs(remote - local).max())
            out["reference_spread_nats_min"] = round(
                float((local.max(axis=1) - local.min(axis=1)).min()), 3
            )
            out["same_top_label"] = bool((remote.argmax(1) == local.argmax(1)).all())
            times = []
            for _ in range(args.repeats):
                before = rec.requests
                t1 = time.perf_counter()
                rec.log_likelihoods(faces[:1], RAF_COMPOUND)
                times.append((time.perf_counter() - t1) * 1000)
                out["requests_per_face"] = rec.requests - before
            out["remote_ms_per_face"] = round(statistics.median(times), 1)
        finally:
            rec.close()
        if args.live_seconds > 0:
            out.update(_live_part(args, srv.url))
    return out


def _live_part(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """The live view (demo source at 30 fps, real MediaPipe) scored by the vLLM server."""
    from cer_desktop.bench import pipeline

    ns = argparse.Namespace(
        seconds=args.live_seconds, warmup=3.0, busy_ms=0.0, fps=30.0, width=640, height=480,
        label_set="raf_compound", recognizer="busy", server=url, served_model="tiny-cer",
    )  # fmt: skip
    app_cpus = _other_cpus(args.server_cpus)
    before = os.sched_getaffinity(0)
    if app_cpus:
        os.sched_setaffinity(0, app_cpus)  # this process and the threads it starts from now
    try:
        live = pipeline.run(ns)
    finally:
        os.sched_setaffinity(0, before)
    keys = ("display_fps", "capture_fps", "recognizer_calls", "recognizer_latency_ms_median")
    out = {f"live_{k}": live[k] for k in keys if k in live}
    out["live_app_cpus"] = ",".join(map(str, sorted(app_cpus or before)))
    return out


def _other_cpus(server_cpus: str | None) -> set[int]:
    """The cores not given to the server (empty: no pinning)."""
    if not server_cpus:
        return set()
    taken: set[int] = set()
    for part in server_cpus.split(","):
        lo, _, hi = part.partition("-")
        taken.update(range(int(lo), int(hi or lo) + 1))
    return os.sched_getaffinity(0) - taken


def _annotate_part(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import cv2
    from skimage import data

    from cer_desktop.annotate.batch import annotate
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.remote.client import ServerConfig
    from cer_desktop.testing.remote_server import FakeServer

    clip = root / "clip"
    clip.mkdir()
    face = cv2.resize(data.astronaut(), (320, 320))
    for i in range(args.frames):
        cv2.imwrite(str(clip / f"{i:03d}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    out: dict[str, Any] = {"annotate_frames": args.frames, "test_server_latency_s": args.latency}
    # exact mode (11 label requests per face), then first-token mode (1 request per face)
    for suffix, exact in (("", True), ("_first_token", False)):
        with FakeServer() as server:
            server.latency = args.latency
            server.prompt_logprobs = exact
            for c in (1, 8):
                config = ServerConfig(server.url, "tiny", in_flight=c, timeout=30)
                t0 = time.perf_counter()
                summary = annotate(
                    [clip], root / f"out{suffix}_c{c}", label_set=RAF_COMPOUND,
                    model_spec=config, fps=10.0, progress=False,
                )  # fmt: skip
                took = time.perf_counter() - t0
                if summary.failed:
                    raise SystemExit(f"cer bench remote: annotate failed: {summary.table()}")
                out[f"annotate_fps{suffix}_c{c}"] = round(args.frames / took, 3)
                out[f"server_max_in_flight{suffix}_c{c}"] = server.max_active
                server.max_active = 0
        ratio = out[f"annotate_fps{suffix}_c8"] / out[f"annotate_fps{suffix}_c1"]
        out[f"annotate{suffix}_c8_vs_c1"] = round(ratio, 2)
    return out
