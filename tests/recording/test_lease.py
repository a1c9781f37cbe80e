"""A live recording's lease keeps recovery away from it, on this machine or another sharing
the record folder (#19, defect 3); sessions clearly dead are recovered without waiting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from cer_desktop.bench.fault_session import finish, start_recorder, untouched, wait_for_frames
from cer_desktop.portable import process
from cer_desktop.recording.lease import LEASE_FILE, Liveness, judge_one, read_lease
from cer_desktop.recording.recover import (
    RecoveryError,
    find_unfinished,
    recover_all,
    recover_session,
    scan_unfinished,
)
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.session.library import recover_unfinished


@pytest.fixture
def recorders(tmp_path):
    """Start recorder processes (`start(name, host)`); every one is ended afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str, host: str):
        folder, stop = tmp_path / name, tmp_path / f"stop-{name}"
        p = start_recorder(folder, stop, host, lease_interval_s=0.2)
        started.append(p)
        wait_for_frames(folder, 5)
        return folder, stop, p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_recovery_on_another_host_leaves_a_live_session_alone(recorders, tmp_path, monkeypatch):
    # Given two processes with two host names recording into one shared folder, and a third
    # recording that was killed (its lease stays behind, never renewed)
    live, stop, p = recorders("live", "host-a")
    other, other_stop, q = recorders("other", "host-b")
    dead, _, victim = recorders("dead", "host-a")
    victim.kill()
    victim.wait(10)
    # When this process, as a third host, looks for unfinished sessions and recovers them
    monkeypatch.setenv("CER_HOST_NAME", "host-c")
    to_recover, left_alone = scan_unfinished(tmp_path, lease_wait_s=2.0)
    reports = recover_all(tmp_path, lease_wait_s=2.0)
    # Then only the killed one is recovered; the live ones are named with why
    assert to_recover == [dead]
    assert sorted(f for f, _ in left_alone) == [live, other]
    assert all("host-a" in why or "host-b" in why for _, why in left_alone), left_alone
    assert [r.folder for r in reports if r.needed] == [str(dead)]
    assert read_manifest(dead)["status"] == "recovered"
    # and the live sessions were not touched: they finish with every frame they accepted
    assert read_manifest(live)["status"] == "recording"
    for folder, stop_file, proc in ((live, stop, p), (other, other_stop, q)):
        accepted = finish(proc, stop_file)
        m = read_manifest(folder)
        assert m["status"] == "complete" and m["frames_written"] == accepted > 0
        assert untouched(folder)
        assert not (folder / LEASE_FILE).exists(), "a finished recording releases its lease"


def test_a_live_looking_lease_is_refused_unless_forced(recorders, monkeypatch):
    live, stop, p = recorders("live", "host-a")
    monkeypatch.setenv("CER_HOST_NAME", "host-b")
    # `cer recover SESSION` refuses a session whose lease is renewed on another host
    with pytest.raises(RecoveryError, match="host-a"):
        recover_session(live, lease_wait_s=2.0)
    assert judge_one(live, read_manifest(live), 2.0).liveness is Liveness.LIVE
    # and the start-up recovery says it left it alone
    said: list[str] = []
    assert recover_unfinished(live.parent, said.append, lease_wait_s=2.0) == 0
    assert any("Left the session" in s and "host-a" in s for s in said), said
    # --force overrides it (the user knows that machine is gone)
    p.kill()
    p.wait(10)
    assert recover_session(live, force=True).needed


def test_the_cli_names_the_session_it_left_alone(recorders, tmp_path):
    live, stop, p = recorders("live", "host-a")
    env = {**os.environ, "CER_HOST_NAME": "host-b", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-m", "cer_desktop", "recover", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"{live}: left alone, still being recorded" in out.stdout, out.stdout
    assert "--force" in out.stdout
    finish(p, stop)


def _crashed_session(tmp_path, name: str, **lease_fields) -> object:
    """A copy of a finished recording made to look crashed: status "recording", a lease."""
    from rec_synthetic import record

    from cer_desktop.recording.recorder import SessionRecorder

    folder = tmp_path / name
    with SessionRecorder(folder, fps=30) as rec:
        record(rec, 10)
    m = read_manifest(folder)
    m.update(status="recording", pid=lease_fields.get("pid", m["pid"]))
    (folder / "manifest.json").write_text(json.dumps(m))
    if lease_fields:
        lease = {"host": process.host_name(), "boot_id": process.boot_id(), "counter": 3}
        lease.update(interval_s=2.0, **lease_fields)
        (folder / LEASE_FILE).write_text(json.dumps(lease))
    return folder


def test_clearly_dead_sessions_are_recovered_without_waiting(tmp_path):
    # Given sessions whose recorders are clearly gone: a dead process on this host (with and
    # without a lease: an older session has none)
    dead_pid = 2**22 + 4321
    assert not process.pid_alive(dead_pid)
    leased = _crashed_session(tmp_path, "leased", pid=dead_pid)
    old = _crashed_session(tmp_path, "old")
    m = read_manifest(old)
    m["pid"] = dead_pid
    (old / "manifest.json").write_text(json.dumps(m))
    # When start-up looks for them with a long lease wait
    t0 = time.monotonic()
    found = find_unfinished(tmp_path, lease_wait_s=30.0)
    # Then both are found at once: no lease of another host, nothing to watch
    assert time.monotonic() - t0 < 2.0
    assert found == [leased, old]


def test_a_stale_lease_of_another_host_is_recovered_after_the_wait(tmp_path):
    # Given a session leased by another host whose counter never moves (that machine died)
    folder = _crashed_session(tmp_path, "stale", host="gone-host", pid=os.getpid())
    # Then recovery watches it for the wait (the pid, alive here, means nothing there)...
    t0 = time.monotonic()
    assert find_unfinished(tmp_path, lease_wait_s=0.6) == [folder]
    assert time.monotonic() - t0 >= 0.6
    # ...and the sessions browser, which never waits, does not call it interrupted
    from cer_desktop.session.library import list_sessions

    assert [s.interrupted for s in list_sessions(tmp_path)] == [False]
    assert read_lease(folder)["host"] == "gone-host"
    shutil.rmtree(folder)


def test_a_recorder_on_a_real_other_host_name_is_left_alone(tmp_path, monkeypatch):
    """The same with a real host name (a UTS namespace: `unshare --uts`, root): nothing
    injected, the recorder's own `socket.gethostname()` names it."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a UTS namespace")
    monkeypatch.delenv("CER_HOST_NAME", raising=False)
    folder, stop = tmp_path / "elsewhere", tmp_path / "stop"
    cmd = [sys.executable, "-m", "cer_desktop.bench.fault_session", str(folder), str(stop), "0.2"]
    env = {k: v for k, v in os.environ.items() if k != "CER_HOST_NAME"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    p = subprocess.Popen(
        [unshare, "--uts", "sh", "-c", 'hostname cer-other-machine && exec "$@"', "sh", *cmd],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().startswith("STARTED")
        wait_for_frames(folder, 5)
        assert read_manifest(folder)["host"] == "cer-other-machine" != process.host_name()
        to_recover, left_alone = scan_unfinished(tmp_path, lease_wait_s=2.0)
        assert to_recover == [] and [f for f, _ in left_alone] == [folder]
        assert "cer-other-machine" in left_alone[0][1]
        accepted = finish(p, stop)
        assert read_manifest(folder)["frames_written"] == accepted > 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_quitting_ends_the_wait_for_a_foreign_lease(tmp_path):

    # Given a session another host leases, and start-up recovery watching it for long
    folder = _crashed_session(tmp_path, "foreign", host="gone-host", pid=os.getpid())
    cancel = threading.Event()
    said: list[str] = []
    threading.Timer(0.3, cancel.set).start()  # the user quits the app meanwhile
    t0 = time.monotonic()
    recovered = recover_unfinished(tmp_path, said.append, cancel, lease_wait_s=30.0)
    # Then the watch ends at once and the undecided session is left as it was
    assert time.monotonic() - t0 < 5.0
    assert recovered == 0 and said == []
    assert read_manifest(folder)["status"] == "recording"


def test_a_recording_renews_its_lease_and_removes_it_at_the_end(tmp_path):
    from rec_synthetic import record

    from cer_desktop.recording.recorder import SessionRecorder

    rec = SessionRecorder(tmp_path / "s", fps=30, lease_interval_s=0.05)
    try:
        first = read_lease(tmp_path / "s")
        assert first is not None and first["pid"] == os.getpid()
        assert first["host"] == process.host_name() and first["interval_s"] == 0.05
        record(rec, 5)
        deadline = time.monotonic() + 5.0
        while read_lease(tmp_path / "s")["counter"] < first["counter"] + 3:
            assert time.monotonic() < deadline, "the lease is not renewed"
            time.sleep(0.02)
    finally:
        rec.close()
    assert read_lease(tmp_path / "s") is None
    assert not [t for t in threading.enumerate() if t.name == "cer-lease" and t.is_alive()]
