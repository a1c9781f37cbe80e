"""`cer bench faults --only server_death`: the server dies in the middle of `cer annotate`.

A real local server (the stand-in OpenAI-compatible server of `testing/remote_server.py`, in a
process of its own: `DyingServer`) answers a set number of chat requests and then exits at
once, in the middle of the corpus; connections are reset and refused, as when a GPU node goes
down. `cer annotate` runs as users run it (its own process, the real command line). It passes
when no input is marked done with unlabelled frames, the first run exits 1 naming the failed
inputs, and a second run against a server that stays up completes exactly those.

`python -m cer_desktop.bench.fault_annotate DIE_AFTER` is the server's process: it prints its
URL, serves, exits when DIE_AFTER chat requests have come (0: never) or its stdin closes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["DyingServer", "server_death"]


class DyingServer:
    """The stand-in server in a child process that exits after `die_after` chat requests
    (0: never); `url` once started. `stop()` ends it if it is still up. A context manager."""

    def __init__(self, die_after: int = 0) -> None:
        self.die_after = die_after
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cer_desktop.bench.fault_annotate", str(die_after)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the stand-in server did not start (said {self.url!r})")

    def __enter__(self) -> DyingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dead(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the child exits when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _serve(die_after: int) -> None:
    from cer_desktop.testing.remote_server import FakeServer

    server = FakeServer()
    answer = server.chat
    lock = threading.Lock()
    seen = 0

    def chat(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        nonlocal seen
        with lock:
            seen += 1
            if die_after and seen >= die_after:
                os._exit(3)  # abrupt, like a crashed node: no answer, every connection reset
        return answer(body)

    server.chat = chat  # type: ignore[method-assign]
    with server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes it (or dies)


def _annotate(inputs: list[Path], out: Path, url: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cer_desktop", "annotate", *map(str, inputs), "-o", str(out)]
    cmd += ["--server", url, "--served-model", "tiny", "--concurrency", "1", "--no-progress"]
    cmd += ["--label-set", "raf_basic"]
    env = {k: v for k, v in os.environ.items() if k != "CER_API_KEY"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _sessions(out: Path) -> dict[str, dict[str, Any]]:
    """Per session folder: finished?, face rows, and rows not labelled on their own frame
    (no label, or one carried over from an earlier frame: `fresh` 0; offline, every frame
    is recognised, so a carried label means that frame's call failed)."""
    found = {}
    for manifest in sorted(out.glob("*/manifest.json")):
        m = json.loads(manifest.read_text(encoding="utf-8"))
        rows = []
        for part in sorted(manifest.parent.glob("frames*.csv")):
            with open(part, newline="", encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
        found[manifest.parent.name] = {
            "complete": bool(m.get("input_complete")),
            "rows": len(rows),
            "unlabelled_rows": sum(not r.get("label") or r.get("fresh") != "1" for r in rows),
        }
    return found


def server_death(root: Path, *, clips: int = 3, frames: int = 6) -> dict[str, Any]:
    """`clips` face clips annotated against a server that dies during the second one."""
    from cer_desktop.bench.fault_child import face_frames
    from cer_desktop.bench.fault_inputs import write_clip

    inputs = []
    for k in range(clips):
        path = root / "in" / f"clip{k}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, face_frames(320, 240, frames)[k:] + face_frames(320, 240, frames)[:k])
        inputs.append(path)
    out = root / "out"
    # Chat requests: 1 probe on connecting, then per frame (one face, raf_basic's 7 labels,
    # exact mode) 7, plus 1 for the prompt's length on the first. Die inside the 2nd clip.
    die_after = 1 + (1 + 7 * frames) + 7 * (frames // 2)
    t0 = time.monotonic()
    with DyingServer(die_after) as server:
        first = _annotate(inputs, out, server.url)
        died = server.dead
    first_s = time.monotonic() - t0
    after_first = _sessions(out)
    with DyingServer() as server:
        second = _annotate(inputs, out, server.url)
    after_second = _sessions(out)
    names = [p.name for p in inputs]
    done_empty = [
        n
        for n, s in after_first.items()
        if s["complete"] and (s["unlabelled_rows"] or not s["rows"])
    ]
    # the summary's last lines name the inputs to be redone
    redo = [ln for ln in first.stdout.splitlines() if ln.startswith("failed, annotated again")]
    failed_named = [n for n in names if redo and n in redo[-1]]
    complete = [n for n in names if after_second.get(n, {}).get("complete")]
    ok = (
        died
        and first.returncode == 1
        and not done_empty
        and after_first.get(names[0], {}).get("complete")  # annotated before the death
        and not after_first.get(names[-1], {}).get("complete")
        and failed_named == names[1:]
        and second.returncode == 0
        and complete == names
        and all(not s["unlabelled_rows"] and s["rows"] for s in after_second.values())
        and "Traceback" not in first.stderr + second.stderr
    )
    return {
        "server_death_annotate_ok": ok,
        "server_death": {
            "server_died": died,
            "first_exit": first.returncode,
            "first_seconds": round(first_s, 1),
            "done_with_unlabelled_frames": done_empty,
            "first_run": after_first,
            "second_exit": second.returncode,
            "completed_by_second_run": complete,
            "named_in_first_summary": failed_named,
            "first_summary_tail": first.stdout.strip().splitlines()[-4:],
        },
    }


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
