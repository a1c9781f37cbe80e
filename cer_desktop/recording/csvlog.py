"""The per-frame CSV of a session: one row per face per frame, columns as docs/architecture.md pins them.

Columns: `frame` (index of the frame in the session's video, 0-based), `t` (seconds since the
first recorded frame, from capture time), `wall_time` (ISO 8601 UTC), `face_id`, `x`, `y`,
`w`, `h`, `label_set`, `label` (top label or "uncertain"), `p_<Label>` for every label of the
set, the OpenFace-style AU columns `AU01_r` ..., `recognizer`, `latency_ms`, `fresh`
(1 = predicted on this frame, 0 = carried over), `source_frame` (the source's frame id,
which differs from `frame` when frames were dropped), and last `image` (the image file the row's
frame was read from, for image inputs; empty for videos and cameras), and, when the session
streamed to Lab Streaming Layer, `lsl_time` (the frame's capture time on LSL's clock, the time
stamp its sample has in an XDF file). The manifest's
`frames_csv_schema` says which columns a session has (`CSV_SCHEMA_VERSION`; 1 = before `image`,
2 = before `AU41_r`, 3 and 4 = before `lsl_time`);
readers go by column name, so older sessions read the same. A face without a prediction yet has empty
label, probability and AU cells. A frame without faces has no row (it is still in the video).

A label-set change starts a new part (`session_folder.SessionPaths.csv_part`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cer_desktop.contracts import Annotation
from cer_desktop.labels import LabelSet
from cer_desktop.recording.session_folder import FRAMES_CSV_SCHEMA, SessionPaths, csv_part_name

# OpenFace 2's intensity AUs, plus AU24 (lip pressor) which the compound prototypes use and
# AU41 (lid droop) which the instant tier measures for sadness. AU14 and AU45 stay empty
# with the instant tier (it does not measure them); the columns keep OpenFace's layout.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU41", "AU45",
)  # fmt: skip
AU_COLUMNS: tuple[str, ...] = tuple(f"{name}_r" for name in AU_NAMES)
#: The frames.csv column layout (`session_folder.FRAMES_CSV_SCHEMA`).
CSV_SCHEMA_VERSION = FRAMES_CSV_SCHEMA
LSL_TIME = "lsl_time"
_FileIO = io.FileIO  # the file class parts are written with (tests give a disk that fills up)


def list_parts(folder: str | os.PathLike[str]) -> list[Path]:
    """The CSV parts of a session folder in order."""
    return SessionPaths(Path(folder)).csv_parts()


def header_for(label_set: LabelSet, lsl_time: bool = False) -> list[str]:
    """The CSV header for a label set (with `lsl_time` last when the session streams to LSL)."""
    return [
        "frame", "t", "wall_time", "face_id", "x", "y", "w", "h", "label_set", "label",
        *(f"p_{label}" for label in label_set.labels),
        *AU_COLUMNS,
        "recognizer", "latency_ms", "fresh", "source_frame", "image",
        *((LSL_TIME,) if lsl_time else ()),
    ]  # fmt: skip


def au_key(name: str) -> str | None:
    """'AU1', 'AU01', 'au12_r' -> 'AU01'/'AU12'; None if not an AU name."""
    m = re.fullmatch(r"(?i)au0*(\d+)(?:_[rc])?", name.strip())
    return f"AU{int(m.group(1)):02d}" if m else None


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def rows_for(
    annotation: Annotation, frame_index: int, t: float, lsl_offset: float | None = None
) -> list[list[str]]:
    """The CSV rows of one annotated frame (one per face); `lsl_offset` (LSL's clock minus the
    capture clock) adds the `lsl_time` cell."""
    lsl = [f"{annotation.frame.t_capture + lsl_offset:.6f}"] if lsl_offset is not None else []
    ls = annotation.label_set
    wall = annotation.frame.wall_time.isoformat(timespec="milliseconds")
    rows: list[list[str]] = []
    for fa in annotation.faces:
        x, y, w, h = (int(v) for v in fa.face.box)
        pred = fa.prediction
        if pred is not None and pred.label_set.labels == ls.labels:
            probs = [_fmt(p) for p in pred.probs]
            label = pred.top_label
        elif pred is not None:
            # A prediction over another set (carried over across a set change): match by name.
            probs = []
            for lab in ls.labels:
                try:
                    probs.append(_fmt(pred.prob_of(lab)))
                except ValueError:
                    probs.append("")
            label = pred.top_label
        else:
            probs, label = [""] * len(ls.labels), ""
        aus = [""] * len(AU_NAMES)
        if pred is not None and pred.au:
            for name, value in pred.au.items():
                key = au_key(name)
                if key in AU_NAMES:
                    aus[AU_NAMES.index(key)] = _fmt(float(value))
        rows.append(
            [
                str(frame_index), f"{t:.4f}", wall, str(fa.face.track_id),
                str(x), str(y), str(w), str(h), ls.name, label, *probs, *aus,
                pred.recognizer if pred is not None else "",
                f"{pred.latency_ms:.1f}" if pred is not None else "",
                "1" if (fa.fresh and pred is not None) else "0",
                str(annotation.frame.frame_id),
                annotation.frame.path,
                *lsl,
            ]
        )  # fmt: skip
    return rows


class CsvLog:
    """Appends rows to the session's CSV parts; `flush(sync=True)` makes them durable.

    Rows are collected in memory and reach the file in one `write` per flush, so the file on
    disk always ends at a whole row, even after `kill -9` (the recorder flushes twice a second).
    """

    def __init__(self, folder: str | os.PathLike[str], lsl_offset: float | None = None) -> None:
        self.folder = Path(folder)
        self.lsl_offset = lsl_offset  # LSL's clock minus the capture clock; None = no column
        self.parts: list[Path] = []
        self.part_label_sets: list[str] = []  # the label set of each part
        self.rows_written = 0  # rows handed to `write` (on disk after the next flush)
        self._label_set: LabelSet | None = None
        self._file: io.FileIO | None = None
        self._buffer = io.StringIO()
        # rows end with "\n" only, so a cut-off tail is easy to find and remove
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def _start_part(self, label_set: LabelSet) -> None:
        self._close_file()
        path = self.folder / csv_part_name(len(self.parts) + 1)
        self._file = _FileIO(path, "w")  # unbuffered: one write() per flush
        self.parts.append(path)
        self.part_label_sets.append(label_set.name)
        self._label_set = label_set
        self._writer.writerow(header_for(label_set, self.lsl_offset is not None))
        self.flush(sync=False)

    def write(self, annotation: Annotation, frame_index: int, t: float) -> int:
        """Queue the rows of one frame; returns how many."""
        if self._label_set is None or self._label_set != annotation.label_set:
            if annotation.faces or self._label_set is None:
                self._start_part(annotation.label_set)
        rows = rows_for(annotation, frame_index, t, self.lsl_offset)
        if rows:
            self._writer.writerows(rows)
            self.rows_written += len(rows)
        return len(rows)

    def flush(self, sync: bool = True) -> None:
        """Write the collected rows to the file (and fsync it when `sync`)."""
        if self._file is None:
            return
        data = self._buffer.getvalue().encode("utf-8")
        if data:
            start = self._file.tell()
            done = 0
            try:
                while done < len(data):
                    done += self._file.write(data[done:]) or 0
            except OSError:
                # A full disk may take part of the block: keep the whole rows that made it
                # and cut the rest (truncating needs no space), so the file ends at a row.
                keep = data.rfind(b"\n", 0, done) + 1
                try:
                    os.ftruncate(self._file.fileno(), start + keep)
                    self._file.seek(start + keep)
                except OSError:
                    pass
                raise
            self._buffer.seek(0)
            self._buffer.truncate()
        if sync:
            os.fsync(self._file.fileno())

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self.flush()
            finally:
                self._file.close()
                self._file = None

    def close(self) -> None:
        self._close_file()

    def abort(self) -> None:
        """Close without raising (after a write failed)."""
        try:
            self.close()
        except OSError:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_rows(folder: str | os.PathLike[str]) -> Iterator[dict[str, str]]:
    """Every row of every CSV part of a session, as dicts, in order."""
    for part in list_parts(folder):
        with open(part, newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)
