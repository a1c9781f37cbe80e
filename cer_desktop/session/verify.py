"""Check what a recording wrote (the smoke test of the window and the bundle uses it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class RecordingCheckFailed(Exception):
    """A recorded session is not what was asked; the message says why."""


def check_recording(folder: Path, frames: int, recognizer: str = "instant") -> dict[str, Any]:
    """Check a finished session folder: manifest complete, at least `frames` frames written,
    the annotated video decodes to exactly those, the CSV has the manifest's rows and a face in
    most frames, and every row is a whole prediction of `recognizer`. Returns figures; raises
    `RecordingCheckFailed` with the reason."""
    from cer_desktop.recording.csvlog import read_rows
    from cer_desktop.recording.session_folder import Manifest, SessionPaths, SessionStatus
    from cer_desktop.recording.video import count_frames

    paths = SessionPaths(Path(folder))
    manifest = Manifest.read(folder)
    if manifest.status is not SessionStatus.COMPLETE:
        raise RecordingCheckFailed(
            f"manifest status is {manifest.status.value!r}, not {SessionStatus.COMPLETE.value!r}"
        )
    written = manifest.frames_written
    if written < frames:
        raise RecordingCheckFailed(
            f"the recorder wrote {written} frames, expected at least {frames}"
        )
    video = paths.annotated_video
    decoded = count_frames(video) if video.exists() else 0
    if decoded != written:
        raise RecordingCheckFailed(
            f"{video.name} decodes to {decoded} frames, the manifest says {written}"
        )
    rows = list(read_rows(folder))
    if manifest.csv_rows != len(rows):
        raise RecordingCheckFailed(
            f"{paths.first_csv.name} has {len(rows)} rows, the manifest says {manifest.csv_rows}"
        )
    face_frames = {r["frame"] for r in rows}
    # The demo shows one real face in every frame: MediaPipe must find it in most of them.
    if len(face_frames) < written // 2:
        raise RecordingCheckFailed(
            f"MediaPipe found a face in {len(face_frames)} of {written} frames of the demo"
        )
    labels = [c for c in rows[0] if c.startswith("p_")]
    for r in rows:
        total = sum(float(r[c]) for c in labels)
        if abs(total - 1.0) > 0.01 or r["recognizer"] != recognizer or not r["label"]:
            raise RecordingCheckFailed(
                f"a CSV row is not a whole prediction of {recognizer!r}: {r}"
            )
    return {
        "frames_written": written,
        "video_frames": decoded,
        "csv_rows": len(rows),
        "frames_with_face": len(face_frames),
        "frames_dropped": manifest.frames_dropped,
        "label_set": manifest.label_set,
        "au_columns": sum(c.startswith("AU") for c in rows[0]),
    }
