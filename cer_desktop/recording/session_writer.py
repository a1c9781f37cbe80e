"""The files of one recording, composed: annotated video, optional raw video, CSV parts, events
and manifest, written, flushed, finished or aborted together.

`SessionRecorder` owns one `SessionFiles` and calls it only from its writer thread (the
events log is the exception: markers come from the GUI thread, and `EventLog` is
thread-safe). The order of `flush` matters for recovery: the CSV and the videos are durable
before the manifest claims their frames.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cer_desktop.contracts import Annotation, Severity, StatusEvent, StatusKind, status
from cer_desktop.recording.csvlog import CsvLog
from cer_desktop.recording.events import EventLog
from cer_desktop.recording.session_folder import (
    Manifest,
    SessionPaths,
    SessionStatus,
    describe_os_error,
    now_iso,
    os_error_reason,
)
from cer_desktop.recording.video import VideoWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """The recorder's counters at one moment (what the manifest says about delivery)."""

    submitted: int
    drop_reasons: dict[str, int]

    @property
    def dropped(self) -> int:
        return sum(self.drop_reasons.values())


class SessionFiles:
    """Creates a session's files in `paths.folder` (the manifest first, status "recording")
    and writes frames to them. Raises `OSError` when the folder cannot be written."""

    def __init__(
        self,
        paths: SessionPaths,
        manifest: Manifest,
        *,
        fps: float,
        record_raw: bool,
        preset: str = "veryfast",
        lsl_clock_offset: float | None = None,
    ) -> None:
        self.paths = paths
        self.manifest = manifest
        self.written = 0  # frames written to the video (and their rows to the CSV)
        manifest.files = {
            "annotated_video": paths.annotated_video.name,
            "raw_video": paths.raw_video.name if record_raw else None,
            "csv": [],
            "events": paths.events.name,
        }
        manifest.write(paths.folder)
        self.events = EventLog(paths.events)
        self.events.add("start", folder=str(paths.folder))
        # LSL's clock minus the capture clock: frames.csv's `lsl_time` column (None: none)
        self.csv = CsvLog(paths.folder, lsl_clock_offset)
        self.video = VideoWriter(paths.annotated_video, fps=fps, preset=preset)
        self.raw = VideoWriter(paths.raw_video, fps=fps, preset=preset) if record_raw else None

    def write(self, index: int, annotation: Annotation, painted: np.ndarray, t: float) -> None:
        """Write frame `index` (painted and raw) at `t` seconds and its CSV rows."""
        frame = annotation.frame
        if index == 0:
            self._on_first_frame(annotation)
        self.video.write(painted, t)
        if self.raw is not None:
            self.raw.write(frame.image, t)
        parts_before = len(self.csv.parts)
        self.csv.write(annotation, index, t)
        if len(self.csv.parts) != parts_before and parts_before > 0:
            self.events.add(
                "label_set", frame=index, t=round(t, 4), label_set=annotation.label_set.name
            )
        seen = self.manifest.recognizers_seen
        for fa in annotation.faces:
            if fa.prediction is not None and fa.prediction.recognizer:
                if fa.prediction.recognizer not in seen:
                    seen.append(fa.prediction.recognizer)
        self.written += 1
        self.manifest.last_t = t

    def note(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Log an event (a marker, a setting changed, a source gap) and return it; a failure
        to write it is logged, never raised: the recording goes on."""
        try:
            return self.events.add(kind, **fields)
        except (OSError, ValueError) as exc:
            log.warning("could not log %s: %s", kind, exc)
            return {"type": kind, **fields, "error": str(exc)}

    def _on_first_frame(self, annotation: Annotation) -> None:
        m = self.manifest
        if not m.source:
            m.source = annotation.frame.source or None
        m.frame_size = list(annotation.frame.size)
        m.first_frame_wall_time = annotation.frame.wall_time.isoformat(timespec="milliseconds")
        if not m.label_set:
            m.label_set = annotation.label_set.name
            m.labels = list(annotation.label_set.labels)
        m.write(self.paths.folder)

    def _update_manifest(self, counts: DeliveryCounts) -> None:
        m = self.manifest
        m.frames_written = self.written
        # The mp4 muxer holds the newest packet back until the next one (it needs its duration),
        # so the video file on disk holds one frame fewer than written until it is closed.
        m.video_frames_durable = max(0, self.written - 1)
        m.csv_rows = self.csv.rows_written
        m.files["csv"] = [p.name for p in self.csv.parts]
        m.label_sets = list(self.csv.part_label_sets)
        m.frames_submitted = counts.submitted
        m.frames_dropped = counts.dropped
        m.drop_reasons = dict(counts.drop_reasons)
        last_t = float(m.last_t or 0.0)
        m.duration_s = round(last_t, 4)
        m.fps_measured = round((self.written - 1) / last_t, 3) if last_t > 0 else None

    def flush(self, counts: DeliveryCounts) -> None:
        """Make everything written durable, then say so in the manifest."""
        self.csv.flush(sync=True)
        for v in (self.video, self.raw):
            if v is not None and v.path.exists():
                fd = os.open(v.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._update_manifest(counts)
        self.manifest.write(self.paths.folder)

    def finish(self, counts: DeliveryCounts) -> None:
        """Close every file; the manifest says "complete"."""
        self.video.close()
        if self.raw is not None:
            self.raw.close()
        self.csv.close()
        self._update_manifest(counts)
        self.manifest.update(
            status=SessionStatus.COMPLETE, ended_at=now_iso(), video_frames_durable=self.written
        )
        self.events.add("stop", frames_written=self.written, frames_dropped=counts.dropped)
        self.events.close()
        self.manifest.write(self.paths.folder)

    def abort(self) -> None:
        """After a write failed: close what can be closed (a fragmented MP4 stays readable up
        to its last fragment)."""
        self.video.abort()
        if self.raw is not None:
            self.raw.abort()
        self.csv.abort()

    def failure(self, exc: BaseException) -> StatusEvent:
        """Why writing stopped, typed (`payload["reason"]`: disk_full, permission, ...)."""
        folder = self.paths.folder
        message = (
            describe_os_error(exc, folder)
            if isinstance(exc, OSError)
            else f"recording stopped: {type(exc).__name__}: {exc}"
        )
        message += f" (recording stopped after {self.written} frames)"
        return status(
            StatusKind.RECORDING_FAILED,
            message,
            Severity.ERROR,
            reason=os_error_reason(exc),
            folder=str(folder),
            frames_written=self.written,
        )

    def record_failure(self, counts: DeliveryCounts, message: str) -> None:
        """Say in the manifest ("failed", `error`) and the events why the recording stopped;
        never raises (the disk may be full)."""
        try:
            self._update_manifest(counts)
            self.manifest.update(status=SessionStatus.FAILED, ended_at=now_iso(), error=message)
            self.manifest.write(self.paths.folder)
        except Exception as exc:  # noqa: BLE001 - the disk may be full; the message stays in memory
            log.debug("could not finalise the manifest: %s", exc)
        try:
            self.events.add("error", message=message)
        except Exception:  # noqa: BLE001
            pass
        self.events.close()
