"""`cer bench faults`, part 3: a full disk, a camera lost and back, bad settings, an unwritable
record folder, and signals sent to a recording window and to `cer annotate`.

The recording cases drive the window's composition (`LiveSession` recording through its
`SessionRecording`, `live_session.py`). Each case runs the real code path and returns its own `*_ok` verdict with the details that
decided it; an exception inside a case is reported as a crash of that case, never hidden.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cer_desktop.contracts import StatusEvent, StatusKind
from cer_desktop.recording.session_folder import MANIFEST_FILE, Manifest, SessionStatus
from cer_desktop.testing.processes import wait_for_frames


def _live(source: Any, events: list[StatusEvent]) -> Any:
    """The window's `LiveSession` on `source`, every event's status into `events`, running."""
    from cer_desktop.bench.live_session import live_session
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.instant import InstantRecognizer

    session = live_session(
        source,
        InstantRecognizer(),
        RAF_COMPOUND.with_neutral(),
        max_faces=1,
        on_status=events.append,
    )
    session.start("fault-case")
    return session


def _captured(session: Any) -> int:
    stats = session.stats
    return stats.frames_captured if stats is not None else 0


def _mount_tmpfs(where: Path, options: str) -> str | None:
    """Mount a tmpfs at `where`; the reason when it cannot be (not root, no permission)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
    )
    return None if r.returncode == 0 else f"mount failed: {r.stderr.strip()}"


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def disk_full(root: Path, size_mb: float = 3.0) -> dict[str, Any]:
    """Record into a small tmpfs until it is full: the recorder must stop with a typed
    disk-full error, the pipeline go on, and what was written stay readable and recoverable."""
    import shutil

    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.bench.live_session import record_into
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.recover import recover_session
    from cer_desktop.recording.session_folder import Manifest, SessionPaths
    from cer_desktop.recording.video import count_frames
    from cer_desktop.testing.fakes import ListSource

    mnt = root / "full"
    problem = _mount_tmpfs(mnt, f"size={int(size_mb * 1024)}k")
    if problem:
        return {"enospc_ok": None, "enospc_note": problem}
    try:
        events: list[StatusEvent] = []
        folder = mnt / "session"
        source = ListSource(face_frames(320, 240), fps=30.0, live=True, loop=True)
        session = _live(source, events)
        try:
            recorder = record_into(session, folder, record_raw=True)
            deadline = time.monotonic() + 120
            while recorder.error_event is None and time.monotonic() < deadline and session.running:
                time.sleep(0.1)
            captured = _captured(session)
            time.sleep(1.0)  # the app goes on after the recording stopped
            goes_on = session.running and _captured(session) > captured + 10
        finally:
            session.shutdown()
        error = recorder.error_event
        told = any(e.kind is StatusKind.RECORDING_FAILED for e in events)
        m = Manifest.read(folder)
        written = count_frames(SessionPaths(folder).annotated_video)
        rows = len(list(read_rows(folder)))
        # Recovery on the still-full disk must not lose anything; then on a copy with room.
        try:
            recover_session(folder)
            in_place = "recovered"
        except Exception as exc:  # noqa: BLE001 - reported: the disk is still full
            in_place = f"{type(exc).__name__}: {exc}"
        rows_after_in_place = len(list(read_rows(folder)))
        copy = root / "full-copy"
        shutil.copytree(folder, copy)
        report = recover_session(copy, force=True)
        kept = count_frames(SessionPaths(copy).annotated_video)
        ok = (
            error is not None
            and error.kind is StatusKind.RECORDING_FAILED
            and error.payload.get("reason") == "disk_full"
            and told  # the session said so (the window's status bar)
            # "failed", or still "recording" when not even the manifest fitted any more
            # (the next start, another process, recovers it)
            and m.status in (SessionStatus.FAILED, SessionStatus.RECORDING)
            and goes_on
            and written > 0
            and rows > 0
            and rows_after_in_place >= min(rows, 1)
            and kept == report.frames_kept > 0
        )
        return {
            "enospc_ok": ok,
            "enospc_frames_readable": written,
            "enospc_csv_rows": rows,
            "enospc_message": error.message if error else None,
            "enospc_pipeline_went_on": goes_on,
            "enospc_user_told": told,
            "enospc_manifest_status": m.status.value,
            "enospc_recover_in_place": in_place,
            "enospc_recovered_frames": report.frames_kept,
        }
    finally:
        _umount(mnt)


def camera_loss(root: Path, gone_s: float = 2.0) -> dict[str, Any]:
    """The real `CameraSource` whose capture device vanishes mid-recording and comes back."""
    import numpy as np

    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.bench.live_session import record_into
    from cer_desktop.capture.camera import CameraSource
    from cer_desktop.recording.events import read_events
    from cer_desktop.recording.session_folder import Manifest, SessionPaths
    from cer_desktop.recording.video import count_frames
    from cer_desktop.testing.fakes import FlakyCapture

    capture = FlakyCapture(np.array(face_frames(320, 240, 1)[0]), fail_after=60, gone_s=gone_s)
    source = CameraSource(0, capture_factory=capture, stall_timeout=0.5, reconnect_interval=0.5)
    events: list[StatusEvent] = []
    folder = root / "camera"
    session = _live(source, events)
    try:
        record_into(session, folder, record_raw=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            e.kind is StatusKind.SOURCE_RESTORED for e in events
        ):
            time.sleep(0.05)
        at_return = _captured(session)
        time.sleep(2.0)
        running, after = session.running, _captured(session) - at_return
    finally:
        session.shutdown()
    kinds = [e.kind for e in events]
    paths = SessionPaths(folder)
    logged = [e["type"] for e in read_events(paths.events)]
    m = Manifest.read(folder)
    told = StatusKind.SOURCE_LOST in kinds and StatusKind.SOURCE_RESTORED in kinds
    ok = (
        told
        and running
        and after >= 5
        and source.reconnects == 1
        and "source_lost" in logged
        and "source_restored" in logged
        and m.status is SessionStatus.COMPLETE
        and count_frames(paths.annotated_video) == m.frames_written
    )
    gap = next(
        (e.payload.get("gap_s") for e in events if e.kind is StatusKind.SOURCE_RESTORED), None
    )
    return {
        "camera_loss_ok": ok,
        "camera_gap_s": gap,
        "camera_frames_after_return_2s": after,
        "camera_user_told": told,
        "camera_gap_in_events_log": "source_lost" in logged and "source_restored" in logged,
    }


def settings_and_folders(root: Path) -> dict[str, Any]:
    """Broken settings files give defaults and are kept; a recording into an unwritable
    folder does not start, the session says why (`RecordingFailed`) and goes on."""
    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.bench.live_session import RecordingNotStarted, record_into
    from cer_desktop.settings import AppSettings, load_settings, save_settings
    from cer_desktop.testing.fakes import ListSource

    broken = ["{not json", "[1, 2]", "\xff\xfe garbage", "", '{"source": "camera:1",}']
    settings_ok = True
    for i, content in enumerate(broken):
        path = root / f"settings-{i}" / "settings.json"
        path.parent.mkdir(parents=True)
        path.write_text(content, encoding="latin-1")
        loaded = load_settings(path)
        save_settings(loaded, path)
        backup = path.with_name("settings.json.broken")
        kept = backup.exists() and backup.read_bytes() == content.encode("latin-1")
        settings_ok &= loaded == AppSettings() and kept
    # one wrong field falls back alone: the others are kept
    path = root / "settings-fields" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"max_faces": "many", "source": "camera:1"}', encoding="utf-8")
    loaded = load_settings(path)
    settings_ok &= loaded.source == "camera:1" and loaded.max_faces == AppSettings().max_faces
    messages = []
    blocker = root / "a-file"
    blocker.write_text("x", encoding="utf-8")
    targets = [blocker / "session"]
    ro = root / "read-only"
    if _mount_tmpfs(ro, "size=1m,ro") is None:
        targets.append(ro / "session")
    unwritable_ok = True
    events: list[StatusEvent] = []
    source = ListSource(face_frames(320, 240), fps=30.0, live=True, loop=True)
    session = _live(source, events)
    try:
        for target in targets:
            try:
                record_into(session, target)
                unwritable_ok = False
            except RecordingNotStarted as exc:
                messages.append(str(exc))
        told = sum(e.kind is StatusKind.RECORDING_FAILED for e in events)
        unwritable_ok &= told == len(targets) and session.running  # the view goes on
    finally:
        session.shutdown()
        if len(targets) > 1:
            _umount(ro)
    return {
        "settings_ok": settings_ok,
        "unwritable_ok": unwritable_ok and len(messages) == len(targets),
        "unwritable_messages": messages,
    }


def _signal_run(cmd: list[str], manifests: Any, sig: int, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        written = wait_for_frames(manifests, proc, 10, 120)
        started = proc.poll() is None and written >= 10
        if started:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    found = list(manifests())
    m = Manifest.read(found[0].parent) if found else None
    return {
        "started": started,
        "returncode": proc.returncode,
        "status": m.status.value if m is not None else None,
        "frames_written": m.frames_written if m is not None else None,
        "traceback": b"Traceback" in err,
        "folder": str(found[0].parent) if found else None,
    }


def signals(root: Path) -> dict[str, Any]:
    """SIGINT, SIGTERM and SIGHUP to the recording window and to `cer annotate`."""
    import numpy as np

    from cer_desktop.bench.fault_inputs import write_clip
    from cer_desktop.recording.session_folder import SessionPaths
    from cer_desktop.recording.video import count_frames

    rng = np.random.default_rng(0)
    clip = root / "long.mp4"
    write_clip(clip, [rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(1500)], fps=30)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs: dict[str, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        rec = root / f"window-{sig.name}"
        cmd = [sys.executable, "-m", "cer_desktop.gui.app", "--source", "demo", "--record"]
        cmd += ["--record-folder", str(rec), "--no-save"]
        env_w = {**env, "CER_DESKTOP_CONFIG_DIR": str(root / f"cfg-{sig.name}")}
        r = _signal_run(cmd, lambda rec=rec: rec.glob(f"*/{MANIFEST_FILE}"), sig, env_w)
        r["ok"] = r["started"] and r["returncode"] == 0 and r["status"] == SessionStatus.COMPLETE
        runs[f"window_{sig.name}"] = r
        out = root / f"annotate-{sig.name}"
        cmd = [
            sys.executable,
            "-m",
            "cer_desktop",
            "annotate",
            str(clip),
            "-o",
            str(out),
            "--no-progress",
        ]
        r = _signal_run(cmd, lambda out=out: out.glob(f"*/{MANIFEST_FILE}"), sig, env)
        r["ok"] = (
            r["started"] and r["returncode"] == 128 + sig and r["status"] == SessionStatus.COMPLETE
        )
        runs[f"annotate_{sig.name}"] = r
    for r in runs.values():
        if r["ok"] and r["folder"]:
            video = SessionPaths(Path(r["folder"])).annotated_video
            r["ok"] = count_frames(video) == r["frames_written"]
    return {
        "signals_ok": all(r["ok"] for r in runs.values()),
        "signal_runs": {
            k: {"ok": r["ok"], "returncode": r["returncode"], "status": r["status"]}
            for k, r in runs.items()
        },
        "signal_crashes": sum(r["traceback"] or (r["returncode"] or 0) < 0 for r in runs.values()),
    }
