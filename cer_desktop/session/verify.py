"""Check what a recording wrote: the video decodes, the CSV and the manifest agree.

Used by `cer-desktop --smoke` after it recorded the demo through the window, so that an install
or a bundle that cannot write or read a session (codecs, face models) fails with a reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SessionCheckError(Exception):
    """A check of a recorded session failed; the message says which and why."""


def check_session(folder: Path, frames: int) -> dict[str, Any]:
    """Check a session folder that recorded the demo for at least `frames` frames.

    Returns the figures checked; raises `SessionCheckError` with the reason otherwise.
    """
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.manifest import read_manifest
    from cer_desktop.recording.video import count_frames

    manifest = read_manifest(folder)
    if manifest.get("status") != "complete":
        raise SessionCheckError(f"manifest status is {manifest.get('status')!r}, not 'complete'")
    written = int(manifest.get("frames_written") or 0)
    if written < frames:
        raise SessionCheckError(f"the recorder wrote {written} frames, expected at least {frames}")
    video = folder / "annotated.mp4"
    decoded = count_frames(video) if video.exists() else 0
    if decoded != written:
        raise SessionCheckError(
            f"annotated.mp4 decodes to {decoded} frames, the manifest says {written}"
        )
    rows = list(read_rows(folder))
    if int(manifest.get("csv_rows") or 0) != len(rows):
        raise SessionCheckError(
            f"frames.csv has {len(rows)} rows, the manifest says {manifest['csv_rows']}"
        )
    face_frames = {r["frame"] for r in rows}
    # The demo shows one real face in every frame: MediaPipe must find it in most of them.
    if len(face_frames) < written // 2:
        raise SessionCheckError(
            f"MediaPipe found a face in {len(face_frames)} of {written} frames of the demo"
        )
    labels = [c for c in rows[0] if c.startswith("p_")]
    for r in rows:
        total = sum(float(r[c]) for c in labels)
        if abs(total - 1.0) > 0.01 or r["recognizer"] != "instant" or not r["label"]:
            raise SessionCheckError(f"a CSV row is not an instant prediction: {r}")
    return {
        "frames_written": written,
        "video_frames": decoded,
        "csv_rows": len(rows),
        "frames_with_face": len(face_frames),
        "frames_dropped": int(manifest.get("frames_dropped") or 0),
        "label_set": manifest.get("label_set"),
        "au_columns": sum(c.startswith("AU") for c in rows[0]),
    }
