"""The lease a live recording holds on its session folder, and how recovery reads it.

A recorder writes `lease.json` (host, pid, boot id, a counter, the bump interval) into its
session folder before the manifest says "recording", bumps the counter every `interval_s`
(2 s) on a `cer-lease` thread, and removes the file when the recording ends. Recovery must not
repair a session that is still being written, possibly by another machine on a shared folder:

- no lease (an older session, or its recorder is gone): judged by the manifest's host and pid
  as before, at once: alive only when it is this host and that process runs;
- a lease from this host (same name, same boot): alive when its process runs, at once;
- a lease from another host: alive when its counter is seen to change while recovery waits
  (2.5 bump intervals, 5 s by default). Clocks of two machines are never compared.

Only sessions whose lease belongs to another host make recovery wait, all of them together.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cer_desktop.portable import process
from cer_desktop.recording.session_folder import LEASE_FILE

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 2.0
WAIT_INTERVALS = 2.5  # how many bump intervals recovery watches another host's lease
MAX_WAIT_S = 15.0


class LeaseError(OSError):
    """The lease file could not be written."""


class Liveness(enum.Enum):
    LIVE = "live"  # a recorder still writes the session: leave it alone
    GONE = "gone"  # its recorder is gone: recover it
    UNSEEN = "unseen"  # another host's lease, not watched (wait 0): neither can be said


@dataclass(frozen=True, slots=True)
class Verdict:
    """What recovery concluded about one session, and why (for people)."""

    liveness: Liveness
    reason: str

    @property
    def live(self) -> bool:
        return self.liveness is Liveness.LIVE


def read_lease(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The session's lease, or None when it has none (or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / LEASE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "counter" in data else None


class Lease:
    """A recorder's lease on `folder`: written at once (raises `LeaseError`), then bumped
    every `interval_s` on a `cer-lease` thread until `release()`, which removes it."""

    def __init__(self, folder: str | os.PathLike[str], interval_s: float = DEFAULT_INTERVAL_S):
        self.path = Path(folder) / LEASE_FILE
        self.interval_s = max(0.05, float(interval_s))
        self.counter = 0
        self._record = {
            "host": process.host_name(),
            "pid": os.getpid(),
            "boot_id": process.boot_id(),
            "interval_s": self.interval_s,
        }
        self._stop = threading.Event()
        self._lock = threading.Lock()
        try:
            self._write()
        except OSError as exc:
            raise LeaseError(exc.errno, f"cannot write the lease {self.path}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, name="cer-lease", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        tmp = self.path.with_name(LEASE_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({**self._record, "counter": self.counter}, f)
        os.replace(tmp, self.path)  # readers see the old or the new lease, never half

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval_s):
            with self._lock:
                if self._stop.is_set():
                    return
                self.counter += 1
                try:
                    self._write()
                    failing = False
                except OSError as exc:  # a flaky network drive: say it once, keep trying
                    if not failing:
                        log.warning("could not renew the lease %s: %s", self.path, exc)
                    failing = True

    def release(self) -> None:
        """Stop bumping and remove the lease (the recording is over). Idempotent."""
        with self._lock:
            self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            self.path.unlink(missing_ok=True)
            self.path.with_name(LEASE_FILE + ".tmp").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the lease %s: %s", self.path, exc)


def _same_machine(lease: dict[str, Any]) -> bool:
    if lease.get("host") != process.host_name():
        return False
    mine, theirs = process.boot_id(), lease.get("boot_id")
    return mine is None or theirs is None or mine == theirs


def _at_once(manifest: dict[str, Any], lease: dict[str, Any] | None) -> Verdict | None:
    """The verdict that needs no waiting, or None (another host's lease: watch it)."""
    if lease is None:
        pid, host = manifest.get("pid"), manifest.get("host")
        if host in (None, process.host_name()) and isinstance(pid, int) and process.pid_alive(pid):
            return Verdict(Liveness.LIVE, f"its recorder (process {pid}) is running")
        return Verdict(Liveness.GONE, "no lease, and its recorder is not running here")
    pid = lease.get("pid")
    if _same_machine(lease):
        if isinstance(pid, int) and process.pid_alive(pid):
            return Verdict(Liveness.LIVE, f"its recorder (process {pid}) is running")
        return Verdict(Liveness.GONE, f"its recorder (process {pid}) is gone")
    return None


def judge(
    sessions: dict[Path, dict[str, Any]],
    wait_s: float | None = None,
    poll_s: float = 0.1,
    cancel: threading.Event | None = None,
) -> dict[Path, Verdict]:
    """Liveness of sessions whose manifests say "recording" (folder -> manifest).

    Sessions whose lease belongs to another host are watched together for `wait_s` seconds
    (None: 2.5 of their bump intervals, at most 15 s; 0: not watched, `UNSEEN`); all others
    are decided at once. A counter that changes means a recorder is still writing. A set
    `cancel` (the app is quitting) ends the watch: what was not decided is `UNSEEN`."""
    out: dict[Path, Verdict] = {}
    watched: dict[Path, dict[str, Any]] = {}
    for folder, manifest in sessions.items():
        lease = read_lease(folder)
        verdict = _at_once(manifest, lease)
        if verdict is None:
            assert lease is not None
            watched[folder] = lease
        else:
            out[folder] = verdict
    if not watched:
        return out
    if wait_s is None:
        longest = max(float(x.get("interval_s") or DEFAULT_INTERVAL_S) for x in watched.values())
        wait_s = min(MAX_WAIT_S, WAIT_INTERVALS * longest)
    if wait_s <= 0:
        out.update(
            {
                f: Verdict(Liveness.UNSEEN, f"lease of host {x.get('host')}")
                for f, x in watched.items()
            }
        )
        return out
    t_end = time.monotonic() + wait_s
    pending = dict(watched)
    stop = cancel or threading.Event()
    while pending and time.monotonic() < t_end:
        if stop.wait(min(poll_s, max(0.0, t_end - time.monotonic()))):
            out.update({f: Verdict(Liveness.UNSEEN, "not watched: cancelled") for f in pending})
            return out
        for folder, first in list(pending.items()):
            now = read_lease(folder)
            if now is not None and now.get("counter") != first.get("counter"):
                host = now.get("host")
                out[folder] = Verdict(
                    Liveness.LIVE, f"it is being recorded on host {host} (its lease is renewed)"
                )
                del pending[folder]
    for folder, first in pending.items():
        out[folder] = Verdict(
            Liveness.GONE,
            f"the lease of host {first.get('host')} was not renewed in {wait_s:.1f} s",
        )
    return out


def judge_one(folder: Path, manifest: dict[str, Any], wait_s: float | None = None) -> Verdict:
    return judge({folder: manifest}, wait_s)[folder]
