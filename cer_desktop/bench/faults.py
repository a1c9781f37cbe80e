"""`cer bench faults`: fault injection against the real code paths, counted.

- kill -9: `--kills` recordings (the live pipeline writing annotated + raw video + CSV) killed
  at seeded moments while starting, recording and stopping, each then recovered
  (`fault_kills`): `kills`, `recovered`, `unplayable`, `rows_lost`, the frames lost at the
  kill (worst case) and the kills that came before a session existed.
- disk full: a small tmpfs as the record folder (root mounts it): `enospc_ok`.
- camera lost and back: the real `CameraSource` with a capture factory that vanishes and
  returns: `camera_loss_ok`.
- corrupt inputs: `--per-kind` files of each of 8 kinds through one `cer annotate`:
  `corrupt_inputs` and how each was reported.
- bad settings files and unwritable record folders: `settings_ok`, `unwritable_ok`.
- SIGINT, SIGTERM, SIGHUP to a recording window and to `cer annotate`: `signals_ok`.
- a server that dies in the middle of `cer annotate` (`fault_annotate`): `server_death_annotate_ok`.
- two recorders with two host names on one shared folder, recovery on a third: no live
  session touched (`shared_folder_ok`); a setting changed while recording: the recording goes
  on or the change is refused (`setting_change_recording_ok`) (`fault_session`).
`crashes` counts every process or case that died with a traceback or an unexpected signal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = (
    "kills",
    "disk",
    "camera",
    "corrupt",
    "settings",
    "signals",
    "server_death",
    "hung_server",
    "proxy",
    "shared_folder",
    "setting_change",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kills", type=int, default=20, help="recordings to kill (default 20)")
    p.add_argument("--per-kind", type=int, default=25, help="corrupt files per kind (8 kinds)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--size", default="320x240", help="frame size of the killed recordings")
    p.add_argument(
        "--only", default=",".join(CASES), help=f"comma-separated cases ({', '.join(CASES)})"
    )
    p.add_argument("--keep", default=None, help="keep the files in this folder")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cer_desktop.bench import (
        fault_annotate,
        fault_cases,
        fault_inputs,
        fault_kills,
        fault_remote,
        fault_session,
    )

    only = {c.strip() for c in args.only.split(",") if c.strip()}
    unknown = only - set(CASES)
    if unknown:
        raise SystemExit(f"cer bench faults: unknown cases {sorted(unknown)}; known: {CASES}")
    w, h = (int(v) for v in args.size.lower().split("x"))
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cer-bench-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"seed": args.seed, "load_avg_start": os.getloadavg()[0]}
    crashes: list[str] = []
    timings: dict[str, float] = {}

    def case(name: str, fn: Callable[[Path], dict[str, Any]]) -> None:
        if name not in only:
            return
        t0 = time.monotonic()
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            result.update(fn(folder))
        except Exception:  # noqa: BLE001 - a case that raises is a crash, reported
            crashes.append(f"{name}: {traceback.format_exc(limit=3)}")
        timings[name] = round(time.monotonic() - t0, 1)

    try:
        case("kills", lambda d: fault_kills.run_kills(d, args.kills, args.seed, (w, h)))
        case("disk", fault_cases.disk_full)
        case("camera", fault_cases.camera_loss)
        case("corrupt", lambda d: fault_inputs.run_corrupt(d, args.per_kind, args.seed))
        case("settings", fault_cases.settings_and_folders)
        case("signals", fault_cases.signals)
        case("server_death", fault_annotate.server_death)
        case("hung_server", fault_remote.hung_server)
        case("proxy", fault_remote.proxy)
        case("shared_folder", fault_session.shared_folder)
        case("setting_change", fault_session.setting_change)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    crashes += result.pop("kill_crashes", [])
    if result.get("annotate_crashed"):
        crashes.append("cer annotate on corrupt inputs: " + result.get("annotate_stderr_tail", ""))
    n_crashes = len(crashes) + int(result.get("signal_crashes", 0))
    result.update(
        crashes=n_crashes,
        crash_details=crashes,
        seconds_by_case=timings,
        load_avg_end=os.getloadavg()[0],
    )
    return result
