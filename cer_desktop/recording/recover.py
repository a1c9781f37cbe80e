"""Finish sessions that were not closed (a crash, `kill -9`, power loss): `cer recover FOLDER`.

What recovery does, for a session whose manifest still says "recording" (or "failed": a disk
error stopped it and its files may disagree by a few frames):
1. each CSV part is cut after its last whole row (a half-written row is removed);
2. the decodable frames of `annotated.mp4` (and `raw.mp4`) are counted;
3. video and CSV are made to cover the same frames: the kept frames are the first
   `min(video frames, raw frames, frames the CSV covers)`. CSV rows of later frames are
   removed, and a video longer than the CSV is cut (the CSV's coverage is the largest of its
   last row's frame + 1 and the manifest's `frames_written`, which the recorder writes only
   after the CSV is synced, so frames without faces near the end are not lost);
4. the videos are remuxed (packets copied, no re-encoding) from fragmented to normal MP4s, which
   players seek faster;
5. the manifest is finalised with status "recovered" and a `recovery` record.

Nothing is deleted that is not proven to lie beyond the end of what was written: a video that
is missing or unreadable does not limit the rest (it says nothing about where the data ends),
nor does one holding fewer frames than the manifest says were durable in it (it was damaged
after the fact); and every file recovery changes loses nothing for good: its first original
is kept beside it as `NAME.orig` (`frames.csv.orig`, `annotated.mp4.orig`) until the user
removes it. A plain remux that copies every frame keeps no original. Recovering twice
changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cer_desktop.contracts import Severity, StatusEvent, StatusKind, status
from cer_desktop.portable.process import pid_alive
from cer_desktop.recording.csvlog import list_parts
from cer_desktop.recording.events import EVENTS_FILE
from cer_desktop.recording.manifest import (
    MANIFEST_FILE,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_RECORDING,
    STATUS_RECOVERED,
    ManifestError,
    now_iso,
    read_manifest,
    write_manifest,
)
from cer_desktop.recording.recorder import ANNOTATED_VIDEO, RAW_VIDEO
from cer_desktop.recording.recover_files import (
    ORIG_SUFFIX,
    is_fragmented,
    keep_original,
    read_part,
    truncate_to_last_line,
    write_part,
)
from cer_desktop.recording.video import VideoError, count_frames, remux

log = logging.getLogger(__name__)


class RecoveryError(RuntimeError):
    """A session that cannot be recovered (not a session, still being recorded...)."""


@dataclass
class RecoveryReport:
    """What `recover_session` found and did."""

    folder: str
    needed: bool
    status_before: str
    video_frames_found: int = 0
    raw_frames_found: int | None = None
    csv_frames_covered: int = 0
    frames_kept: int = 0
    csv_rows_kept: int = 0
    csv_rows_removed: int = 0
    partial_rows_removed: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.needed:
            return f"{self.folder}: nothing to do (status {self.status_before!r})"
        raw = "" if self.raw_frames_found is None else f", raw video {self.raw_frames_found}"
        return (
            f"{self.folder}: recovered {self.frames_kept} frames (video {self.video_frames_found}"
            f"{raw}, CSV covered {self.csv_frames_covered}); {self.csv_rows_kept} CSV rows kept,"
            f" {self.csv_rows_removed + self.partial_rows_removed} removed"
            + ("; " + "; ".join(self.notes) if self.notes else "")
        )

    def event(self) -> StatusEvent:
        """The report as a typed status event (kind RECOVERY; a warning when rows were
        removed or a stream could not be used, so the user looks at it)."""
        removed = self.csv_rows_removed + self.partial_rows_removed
        worry = bool(removed or self.notes)
        message = f"Recovered {self.frames_kept} frames of the interrupted session {self.folder}"
        if removed:
            message += f"; {removed} CSV rows past the video's end moved aside (.orig kept)"
        if self.notes:
            message += "; " + "; ".join(self.notes)
        return status(
            StatusKind.RECOVERY,
            message if self.needed else self.summary(),
            Severity.WARNING if worry else Severity.INFO,
            folder=self.folder,
            needed=self.needed,
            frames_kept=self.frames_kept,
            csv_rows_removed=removed,
        )


def is_unfinished(folder: str | os.PathLike[str]) -> bool:
    """True if `folder` holds a session still marked "recording" whose recorder is gone, or
    one a disk error stopped ("failed")."""
    try:
        m = read_manifest(folder)
    except ManifestError:
        return False
    if m.get("status") == STATUS_FAILED:
        return True  # stopped by a disk error: its files may disagree by a few frames
    if m.get("status") != STATUS_RECORDING:
        return False
    pid = m.get("pid")
    same_host = m.get("host") in (None, socket.gethostname())
    if same_host and isinstance(pid, int) and pid_alive(pid):
        return False  # a live recorder (maybe this very process) owns it
    return True


def find_unfinished(root: str | os.PathLike[str]) -> list[Path]:
    """Sessions under `root` (the folder itself and its sub-folders) left "recording" by a
    recorder that is gone (crashed or killed) or stopped by a disk error: the app recovers
    them on start (`recover_all`)."""
    root = Path(root)
    if not root.is_dir():
        return []
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    return [p for p in candidates if (p / MANIFEST_FILE).exists() and is_unfinished(p)]


def _video_frames(path: Path, report: RecoveryReport) -> int | None:
    """Decodable frames of a video; None (noted) when it is missing or unreadable."""
    if not path.exists():
        report.notes.append(f"{path.name} missing")
        return None
    try:
        return count_frames(path)
    except VideoError as exc:
        report.notes.append(f"{path.name} unreadable, left as it is ({exc})")
        return None


def _cut_video(
    path: Path, frames: int, decodable: int, report: RecoveryReport, *, remux_whole: bool = True
) -> bool:
    """Remux to a normal MP4 holding the first `frames` frames (the original is kept when
    frames are cut); True when the file changed. A video already holding no more than
    `frames` is left alone when it is a normal MP4 or `remux_whole` is off."""
    if frames >= decodable and (not remux_whole or not is_fragmented(path)):
        return False
    tmp = path.with_name(path.stem + ".recovering.mp4")
    try:
        copied = remux(path, tmp, max_frames=frames, decodable=decodable)
        if copied == 0:
            tmp.unlink(missing_ok=True)
            report.notes.append(f"{path.name}: no frame to keep")
            return False
        if copied < decodable:
            keep_original(path)
            report.notes.append(
                f"{path.name}: {decodable - copied} frames past the CSV's end cut"
                f" (the full video is kept as {path.name}{ORIG_SUFFIX})"
            )
        os.replace(tmp, path)
        return True
    except Exception as exc:  # noqa: BLE001 - keep the fragmented original rather than nothing
        tmp.unlink(missing_ok=True)
        report.notes.append(f"{path.name}: remux failed, kept as is ({exc})")
        return False


def _video_limit(path: Path, durable: int, report: RecoveryReport) -> tuple[int | None, int | None]:
    """(decodable frames, the limit they set on the rest): a missing or unreadable video sets
    none, nor does one holding fewer frames than the manifest says were durable in it."""
    found = _video_frames(path, report)
    if found is not None and found < durable:
        report.notes.append(
            f"{path.name} holds {found} frames, fewer than the {durable} made durable:"
            " damaged after the fact, not used to cut the rest"
        )
        return found, None
    return found, found


def recover_session(folder: str | os.PathLike[str], *, force: bool = False) -> RecoveryReport:
    """Repair a session that was not closed; see the module docstring for what it does.

    Sessions marked "recording" (crashed) or "failed" (stopped by a disk error; its files may
    disagree by a few frames) are repaired; a complete or recovered one is left alone
    (`needed=False`) unless `force`, which also skips the check that the recording process is
    gone. Raises `RecoveryError` for a folder without a manifest or a session whose recorder
    process is still alive.
    """
    folder = Path(folder)
    try:
        m = read_manifest(folder)
    except ManifestError as exc:
        raise RecoveryError(str(exc)) from exc
    status = str(m.get("status"))
    report = RecoveryReport(folder=str(folder), needed=False, status_before=status)
    if status not in (STATUS_RECORDING, STATUS_FAILED) and not force:
        return report
    if status == STATUS_RECORDING and not force and not is_unfinished(folder):
        raise RecoveryError(f"{folder} is still being recorded by process {m.get('pid')}")
    report.needed = True

    # 1. whole CSV rows only
    parts = list_parts(folder)
    loaded: list[tuple[Path, list[str], list[list[str]]]] = []
    malformed: set[Path] = set()
    for part in parts:
        if truncate_to_last_line(part):
            report.partial_rows_removed += 1
        header, rows, bad = read_part(part)
        report.partial_rows_removed += bad
        if bad:
            malformed.add(part)
        if not header:
            part.unlink()  # empty (a cut-off header is kept in its .orig): it never held data
            continue
        loaded.append((part, header, rows))
    last_row_frame = -1
    for _, header, rows in loaded:
        fi = header.index("frame") if "frame" in header else 0
        for row in rows:
            try:
                last_row_frame = max(last_row_frame, int(row[fi]))
            except ValueError:
                pass
    report.csv_frames_covered = max(last_row_frame + 1, int(m.get("frames_written") or 0))

    # 2. frames in the videos; only a readable, undamaged video limits the rest
    annotated = folder / ANNOTATED_VIDEO
    raw = folder / RAW_VIDEO
    durable = int(m.get("video_frames_durable") or 0)
    found, limit = _video_limit(annotated, durable, report)
    report.video_frames_found = found or 0
    limits = [report.csv_frames_covered] + ([limit] if limit is not None else [])
    raw_found: int | None = None
    if raw.exists():
        raw_found, raw_limit = _video_limit(raw, durable, report)
        report.raw_frames_found = raw_found
        if raw_limit is not None:
            limits.append(raw_limit)
    elif m.get("record_raw"):
        report.notes.append(f"{RAW_VIDEO} missing")
    keep = min(limits)
    report.frames_kept = keep

    # 3. CSV rows of frames beyond `keep` go (the original part stays as .orig)
    for part, header, rows in loaded:
        fi = header.index("frame") if "frame" in header else 0
        kept = [r for r in rows if r[fi].isdigit() and int(r[fi]) < keep]
        report.csv_rows_removed += len(rows) - len(kept)
        report.csv_rows_kept += len(kept)
        if len(kept) != len(rows) or part in malformed:
            keep_original(part)
            write_part(part, header, kept)

    # 4. videos cut to `keep` frames and remuxed to normal MP4s
    changed = bool(report.csv_rows_removed or report.partial_rows_removed)
    for path, n in ((annotated, found), (raw, raw_found)):
        if n:
            # a complete session's videos were finalised by the recorder: cut only
            whole = status != STATUS_COMPLETE
            changed = _cut_video(path, keep, n, report, remux_whole=whole) or changed
    if status in (STATUS_RECOVERED, STATUS_COMPLETE) and not changed:
        report.notes.append(f"already {status}: nothing changed")
        return report  # recovering twice (or a finished session, forced) changes nothing

    # 5. events log ends at a whole line, manifest finalised
    events = folder / EVENTS_FILE
    if events.exists():
        truncate_to_last_line(events)
        with open(events, "a", encoding="utf-8") as f:
            record = {"type": "recovered", "wall_time": now_iso(), "frames_kept": keep}
            f.write(json.dumps(record) + "\n")
    mtime = annotated.stat().st_mtime if annotated.exists() else folder.stat().st_mtime
    m.update(
        status=STATUS_RECOVERED,
        ended_at=m.get("ended_at")
        or datetime.fromtimestamp(mtime, UTC).isoformat(timespec="milliseconds"),
        recovered_at=now_iso(),
        frames_written=keep,
        csv_rows=report.csv_rows_kept,
        recovery=asdict(report),
    )
    m.setdefault("files", {})["csv"] = [p.name for p, _, _ in loaded]
    write_manifest(folder, m)
    log.info("%s", report.summary())
    return report


def recover_all(root: str | os.PathLike[str]) -> list[RecoveryReport]:
    """Recover every unfinished session under `root`; failures are logged, not raised."""
    reports: list[RecoveryReport] = []
    for folder in find_unfinished(root):
        try:
            reports.append(recover_session(folder))
        except Exception as exc:  # noqa: BLE001 - one broken session must not stop the app
            log.warning("could not recover %s: %s", folder, exc)
    return reports
