"""`cer bench faults` cases at the session's edges: a shared record folder, a setting changed
while recording.

`--only shared_folder` (`shared_folder_ok`): two machines recording into one shared folder.
Two recorder processes with two host names (`CER_HOST_NAME`, as two workstations on a lab's
network drive) record live into one record folder; a third, on the first host, is killed
(`kill -9`) mid-recording. Then recovery runs there as a third machine: it must leave both
live sessions alone (they finish "complete" with every frame they accepted, no file cut or
moved aside) and recover the killed one. `shared_folder_ok` says all of it held.

The recorder processes are `python -m cer_desktop.bench.fault_session FOLDER STOP INTERVAL`:
the live pipeline (synthetic frames, a fake analyzer, a fixed recognizer: no model) recording
at 30 fps until the file STOP exists; it then prints "CLOSED <frames accepted>".

`--only setting_change` (`setting_change_recording_ok`): a live session on a real face (the
MediaPipe analyzer, the instant recognizer) records while the face limit changes and then a
model trained on 112-pixel crops takes over. The recording must go on in the same folder
through both (frames written after each change, a `setting` event for each, every accepted
frame written, status "complete"); a change that cannot be applied must be refused with a
message while the recording goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cer_desktop.recording.lease import DEFAULT_INTERVAL_S

CHILD = "cer_desktop.bench.fault_session"


def record_until(folder: Path, stop: Path, lease_interval_s: float) -> int:
    """Record a live run into `folder` until `stop` exists; the frames the recorder took."""
    from cer_desktop.labels import RAF_BASIC
    from cer_desktop.pipeline.pipeline import Pipeline
    from cer_desktop.recording.recorder import SessionRecorder
    from cer_desktop.testing.fakes import (
        FakeAnalyzer,
        FixedRecognizer,
        ListSource,
        synthetic_frames,
    )

    source = ListSource(synthetic_frames(10, 160, 120), fps=30.0, live=True, loop=True)
    rec = SessionRecorder(folder, fps=30.0, lease_interval_s=lease_interval_s)
    pipeline = Pipeline(
        source,
        FakeAnalyzer(boxes=((20, 20, 60, 60),)),
        FixedRecognizer(top="Happiness", name="fixed"),
        RAF_BASIC,
        sinks=[rec],
    )
    pipeline.start()
    print("STARTED", flush=True)
    while not stop.exists():
        time.sleep(0.05)
    pipeline.stop()
    rec.close()
    return rec.frames_submitted - rec.drop_reasons.get("queue_full", 0)


def start_recorder(
    folder: Path, stop: Path, host: str, lease_interval_s: float = DEFAULT_INTERVAL_S
) -> subprocess.Popen[str]:
    """A recorder process on `host` (its `CER_HOST_NAME`) recording into `folder`, renewing
    its lease every `lease_interval_s` (the app's 2 s by default)."""
    env = {**os.environ, "CER_HOST_NAME": host}
    cmd = [sys.executable, "-m", CHILD, str(folder), str(stop), str(lease_interval_s)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    if not line.startswith("STARTED"):
        p.kill()
        raise RuntimeError(f"the recorder on {host} did not start: {line!r}")
    return p


def wait_for_frames(folder: Path, n: int, timeout_s: float = 30.0) -> int:
    """Wait until the manifest in `folder` reports `n` frames written (made durable)."""
    deadline = time.monotonic() + timeout_s
    written = 0
    while time.monotonic() < deadline:
        try:
            written = int(
                json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["frames_written"]
            )
        except (OSError, ValueError, KeyError):
            written = 0
        if written >= n:
            return written
        time.sleep(0.1)
    raise TimeoutError(f"{folder}: {written} of {n} frames after {timeout_s} s")


def finish(p: subprocess.Popen[str], stop: Path) -> int:
    """Ask a recorder to stop; the frames it accepted."""
    stop.touch()
    out, _ = p.communicate(timeout=60)
    for line in out.splitlines():
        if line.startswith("CLOSED"):
            return int(line.split()[1])
    raise RuntimeError(f"the recorder did not close: {out!r}")


def untouched(folder: Path) -> bool:
    """No file of the session was cut and moved aside by recovery."""
    return not any(p.name.endswith(".orig") for p in folder.iterdir())


def shared_folder(root: Path) -> dict[str, Any]:
    """The case: see the module docstring."""
    from cer_desktop.recording.manifest import read_manifest
    from cer_desktop.recording.recover import recover_all

    live = {"host-a": root / "session-a", "host-b": root / "session-b"}
    killed = root / "session-killed"
    stops = {host: root / f"stop-{host}" for host in live}
    procs = {host: start_recorder(folder, stops[host], host) for host, folder in live.items()}
    victim = start_recorder(killed, root / "stop-never", "host-a")
    out: dict[str, Any] = {}
    try:
        for folder in [*live.values(), killed]:
            wait_for_frames(folder, 10)
        victim.kill()  # kill -9: its lease stays behind, never renewed again
        victim.wait(10)
        # Recovery on a third machine, while host-a and host-b go on recording
        before = os.environ.get("CER_HOST_NAME")
        os.environ["CER_HOST_NAME"] = "host-c"
        try:
            t0 = time.monotonic()
            reports = recover_all(root)
            out["shared_folder_recovery_s"] = round(time.monotonic() - t0, 2)
        finally:
            if before is None:
                os.environ.pop("CER_HOST_NAME", None)
            else:
                os.environ["CER_HOST_NAME"] = before
        recovered = sorted(Path(r.folder).name for r in reports if r.needed)
        states = {host: read_manifest(folder)["status"] for host, folder in live.items()}
        accepted = {host: finish(p, stops[host]) for host, p in procs.items()}
        final = {host: read_manifest(folder) for host, folder in live.items()}
        out.update(
            shared_folder_recovered=recovered,
            shared_folder_live_status_during=states,
            shared_folder_frames={h: [accepted[h], final[h]["frames_written"]] for h in live},
        )
        out["shared_folder_ok"] = bool(
            recovered == [killed.name]
            and read_manifest(killed)["status"] == "recovered"
            and all(s == "recording" for s in states.values())
            and all(
                final[h]["status"] == "complete"
                and final[h]["frames_written"] == accepted[h] > 0
                and untouched(live[h])
                for h in live
            )
        )
    finally:
        for p in [*procs.values(), victim]:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return out


def _wait_written(recording: Any, n: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        written = int(getattr(recording._recorder, "frames_written", 0))
        if written >= n:
            return written
        time.sleep(0.05)
    raise TimeoutError(f"{n} frames not written in {timeout_s} s")


def setting_change(root: Path) -> dict[str, Any]:
    """The case: see the module docstring."""
    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.instant import InstantRecognizer
    from cer_desktop.recording.events import EVENTS_FILE, read_events
    from cer_desktop.recording.manifest import read_manifest
    from cer_desktop.recording.session_files import ANNOTATED_VIDEO
    from cer_desktop.recording.video import frame_times
    from cer_desktop.session.factories import default_analyzer_factory
    from cer_desktop.session.live import LiveSession
    from cer_desktop.testing.fakes import ListSource

    class Crop112(InstantRecognizer):
        """Stands in for a model whose metadata asks for 112-pixel crops."""

        name = "crop112"
        crop_size = 112

    def analyzers(max_faces: int, crop: int) -> Any:
        if max_faces == 7:  # a limit whose analyzer cannot be built: must be refused
            raise RuntimeError("no analyzer for 7 faces")
        return default_analyzer_factory(max_faces, crop)

    frames = face_frames(320, 240)
    said: list[str] = []
    session = LiveSession(
        RAF_COMPOUND,
        source_factory=lambda spec: ListSource(frames, fps=30.0, live=True, loop=True),
        analyzer_factory=analyzers,
        max_faces=2,
    )
    session.subscribe(lambda e: said.append(getattr(getattr(e, "status", None), "message", "")))
    out: dict[str, Any] = {}
    try:
        if not session.start("bench"):
            raise RuntimeError(f"the session did not start: {said}")
        folder = session.recording.start(root)
        if folder is None:
            raise RuntimeError(f"the recording did not start: {said}")
        steps: list[dict[str, Any]] = []
        n = _wait_written(session.recording, 20)
        for change in ("max_faces", "refused", "crop"):
            if change == "max_faces":
                session.set_max_faces(1)
            elif change == "refused":
                session.set_max_faces(7)
            else:
                session.set_recognizer(Crop112(), "a 112-pixel model")
            same = session.recording.active and session.recording.folder == folder
            n = _wait_written(session.recording, n + 20)
            steps.append({"change": change, "same_folder": same, "written": n})
        stopped = session.recording.stop()
        m = read_manifest(folder)
        changes = [e for e in read_events(folder / EVENTS_FILE) if e["type"] == "setting"]
        times = frame_times(folder / ANNOTATED_VIDEO)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        out.update(
            # the longest pause between two recorded frames (the changes included); the
            # source runs at 30 fps (33 ms); under load this says little
            setting_change_max_gap_ms=round(1000 * max(gaps, default=0.0), 1),
            setting_change_steps=steps,
            setting_change_events=[[e["setting"], e.get("frame")] for e in changes],
            setting_change_frames_written=m.get("frames_written"),
        )
        out["setting_change_recording_ok"] = bool(
            stopped is not None
            and all(step["same_folder"] for step in steps)
            and [e["setting"] for e in changes] == ["max_faces", "recognizer"]
            and any("Cannot apply Faces: 7" in text for text in said)
            and session.max_faces == 1
            and m["status"] == "complete"
            and m["frames_written"] == stopped.frames_written >= int(steps[-1]["written"])
        )
    finally:
        session.shutdown()
    return out


if __name__ == "__main__":
    n = record_until(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))
    print(f"CLOSED {n}", flush=True)
