"""`cer annotate` never deletes an unfinished annotation folder that another process (a shard
on another node of a shared folder, or another process here) is still writing: its lease says
so. Without the lease check, `claim_folder` deleted it as "our own interrupted attempt"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cer_desktop.annotate.inputs import InputItem, claim_folder
from cer_desktop.recording.lease import Lease
from cer_desktop.recording.session_folder import write_manifest


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _unfinished_annotation(folder: Path, clip: Path) -> None:
    # the manifest names a process that is gone: only the lease can tell that it is live
    manifest = {"mode": "annotate", "input": str(clip.resolve()), "status": "recording"}
    folder.mkdir(parents=True)
    write_manifest(folder, {**manifest, "pid": _dead_pid()})
    (folder / "frames.csv").write_text("frame\n0\n", encoding="utf-8")


def test_a_folder_leased_by_a_live_process_is_not_claimed(tmp_path: Path) -> None:
    # Given an unfinished annotation of clip.mp4 whose lease is held by a running process
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    folder = tmp_path / "out" / "clip"
    _unfinished_annotation(folder, clip)
    held = Lease(folder, interval_s=0.2)
    try:
        # When another run (even with --force) wants to annotate the same input there
        for force in (False, True):
            reason = claim_folder(folder, InputItem(clip, "video", "clip"), force=force)
            # Then it is refused and nothing is deleted
            assert reason and "being annotated" in reason, reason
            assert (folder / "frames.csv").exists(), "a live annotation's files were deleted"
    finally:
        held.release()
    # And once its recorder is gone (lease released), the unfinished attempt is redone
    assert claim_folder(folder, InputItem(clip, "video", "clip")) is None
    assert not folder.exists(), "an interrupted attempt of this input is cleared for a redo"
