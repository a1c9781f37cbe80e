"""The session folder, typed: every file name once (`SessionPaths`), the manifest as a
dataclass with a schema version of its own (`Manifest`), and the errors writing a folder can
meet, in words and as codes.

A session folder (live recording or `cer annotate`): `annotated.mp4`, optional `raw.mp4`,
`frames.csv` (+ `frames.partN.csv` after a label-set change), `events.jsonl`, `manifest.json`,
and `inputs.csv` for image inputs. The manifest says what ran and how it ended; it is read
from every version written so far (`manifest_schema` absent = 0, `frames_csv_schema` absent
= 1) and always written in the current one.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import json
import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cer_desktop import __version__
from cer_desktop.portable import process
from cer_desktop.portable.filenames import path_too_long, safe_name
from cer_desktop.portable.system import OsName

MANIFEST_FILE = "manifest.json"
ANNOTATED_VIDEO = "annotated.mp4"
RAW_VIDEO = "raw.mp4"
EVENTS_FILE = "events.jsonl"
FIRST_CSV_PART = "frames.csv"
INPUTS_FILE = "inputs.csv"  # frame -> image file, for image inputs
LEASE_FILE = "lease.json"  # while a recorder writes the session (recording/lease.py)
# The longest name a session folder holds (a recovered CSV part's kept original): the folder's
# path must leave room for it on Windows.
LONGEST_FILE_NAME = "frames.part99.csv.orig"
_CSV_PART_RE = re.compile(r"^frames(?:\.part(\d+))?\.csv$")

#: The frames.csv column layout: 1 = up to `source_frame`; 2 = `image` added; 3 = `AU41_r`;
#: 4 = `lsl_time` (last, only in sessions that streamed to LSL).
FRAMES_CSV_SCHEMA = 4
#: The manifest's own layout: 0 = every manifest before this key (a dict of the same keys),
#: 1 = `manifest_schema` written.
MANIFEST_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class SessionPaths:
    """The files of one session folder; the only place their names are spelled."""

    folder: Path

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST_FILE

    @property
    def annotated_video(self) -> Path:
        return self.folder / ANNOTATED_VIDEO

    @property
    def raw_video(self) -> Path:
        return self.folder / RAW_VIDEO

    @property
    def events(self) -> Path:
        return self.folder / EVENTS_FILE

    @property
    def inputs(self) -> Path:
        return self.folder / INPUTS_FILE

    @property
    def lease(self) -> Path:
        return self.folder / LEASE_FILE

    @property
    def first_csv(self) -> Path:
        return self.folder / FIRST_CSV_PART

    def csv_part(self, index: int) -> Path:
        """CSV part `index` (1-based): frames.csv, frames.part2.csv, ..."""
        return self.folder / csv_part_name(index)

    def csv_parts(self) -> list[Path]:
        """The CSV parts that exist, in order."""
        found: list[tuple[int, Path]] = []
        for p in self.folder.iterdir():
            m = _CSV_PART_RE.match(p.name)
            if m:
                found.append((int(m.group(1) or 1), p))
        return [p for _, p in sorted(found)]

    def is_session(self) -> bool:
        """True when the folder holds a manifest (a session, finished or not)."""
        return self.manifest.is_file()


def csv_part_name(index: int) -> str:
    """File name of CSV part `index` (1-based): frames.csv, frames.part2.csv, ..."""
    return FIRST_CSV_PART if index <= 1 else f"frames.part{index}.csv"


class SessionStatus(enum.StrEnum):
    """How a session ended, as its manifest says."""

    RECORDING = "recording"  # being written, or a crash left it so (recover it)
    COMPLETE = "complete"
    FAILED = "failed"  # a disk error stopped it; `error` says why
    RECOVERED = "recovered"  # `cer recover` finished it; `recovery` says what it kept


class ManifestError(ValueError):
    """A session folder without a readable manifest."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Manifest:
    """`manifest.json`, typed. Keys this class does not know (a recognizer's own details,
    keys of a newer version) are kept in `extra` and written back unchanged."""

    status: SessionStatus = SessionStatus.RECORDING
    manifest_schema: int = MANIFEST_SCHEMA
    frames_csv_schema: int = FRAMES_CSV_SCHEMA
    app: str | None = "cer-desktop"
    app_version: str | None = __version__
    started_at: str | None = field(default_factory=now_iso)
    ended_at: str | None = None
    host: str | None = field(default_factory=process.host_name)
    pid: int | None = field(default_factory=os.getpid)
    python: str | None = field(default_factory=platform.python_version)
    # what ran
    model: str | None = None
    adapter: str | None = None
    quantisation: str | None = None
    prompt: dict[str, Any] | None = None
    recognizer: str | None = None
    recognizer_version: str | None = None
    recognizers_seen: list[str] = field(default_factory=list)
    label_set: str | None = None
    label_sets: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    smoothing: float | None = None
    max_faces: int | None = None
    crop_size: int | None = None
    remote: dict[str, Any] | None = None  # a server: URL (no credentials), model, mode, fallback
    lsl_clock_offset: float | None = None  # LSL's clock minus capture's (`lsl_time` in the CSV)
    source: str | None = None
    mode: str | None = None  # "annotate" for `cer annotate`, "bench" for benchmarks
    # the recording
    record_raw: bool = False
    delivery_policy: str | None = None
    queue_size: int | None = None
    frame_size: list[int] | None = None
    first_frame_wall_time: str | None = None
    fps_nominal: float | None = None
    fps_measured: float | None = None
    duration_s: float | None = None
    last_t: float | None = None
    frames_submitted: int = 0
    frames_written: int = 0
    frames_dropped: int = 0
    video_frames_durable: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    csv_rows: int = 0
    files: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    recovery: dict[str, Any] | None = None
    # `cer annotate`: the input and whether it was annotated to its end
    input: str | None = None
    input_kind: str | None = None
    input_complete: bool | None = None
    unreadable_images: list[list[str]] | None = None
    max_recognizer_errors: int | None = None
    unlabelled_frames: int | None = None  # frames whose recognizer call failed
    failure: str | None = None  # why an input was left unfinished
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, fields: dict[str, Any] | None = None) -> Manifest:
        """A fresh manifest for a session starting now, with `fields` (model, adapter,
        quantisation, prompt, source, ...) over the defaults."""
        m = cls()
        m.update(**(fields or {}))
        # Callers spell some keys differently; keep the documented one filled.
        for alias in ("quant", "quantization"):
            if m.quantisation is None and m.extra.get(alias) is not None:
                m.quantisation = m.extra[alias]
        return m

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """A manifest of any version written so far; raises `ManifestError` for a status
        no version wrote."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        values.setdefault("manifest_schema", 0)  # before the key existed
        values.setdefault("frames_csv_schema", 1)  # before the `image` column
        try:
            values["status"] = SessionStatus(values.get("status", SessionStatus.RECORDING))
        except ValueError as exc:
            raise ManifestError(f"unknown session status {data.get('status')!r}") from exc
        for key in ("started_at", "host", "python", "app", "app_version"):
            values.setdefault(key, None)  # unknown in the file: not today's
        values.setdefault("pid", None)
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written, in the current schema (unknown keys kept)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out["status"] = self.status.value
        out["manifest_schema"] = MANIFEST_SCHEMA
        return {**self.extra, **out}

    def update(self, **fields: Any) -> None:
        """Set fields by name (a name this class does not know goes to `extra`)."""
        for key, value in fields.items():
            if key == "extra":
                raise ValueError("set extra keys by name")
            if key == "status":
                value = SessionStatus(value)
            if key in _FIELD_NAMES:
                setattr(self, key, value)
            else:
                self.extra[key] = value

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> Manifest:
        """The manifest of a session folder; raises `ManifestError` when missing or
        unreadable."""
        return cls.from_dict(read_manifest(folder))

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write `manifest.json` atomically (a crash never leaves half a manifest)."""
        return write_manifest(folder, self.to_dict())


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Manifest)) - {"extra"}


def write_manifest(folder: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    """Write a manifest's JSON atomically (temporary file, fsync, rename)."""
    path = Path(folder) / MANIFEST_FILE
    tmp = path.with_name(MANIFEST_FILE + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # the old manifest stays whole
        raise
    return path


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A manifest's JSON object as written (tests and `Manifest.read`); raises
    `ManifestError` when missing or unreadable."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{folder} is not a session folder (no {MANIFEST_FILE})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path} is not a JSON object")
    return data


# Drop reasons written to the manifest.
DROP_QUEUE_FULL = "queue_full"  # the writer fell behind capture (live only)
DROP_WRITE_ERROR = "write_error"  # frames queued when a disk error stopped the recording


class RecordingError(RuntimeError):
    """A session that cannot start (folder not writable, already holds a session)."""


def new_session_folder(root: str | os.PathLike[str], prefix: str = "session") -> Path:
    """A fresh, not yet existing folder under `root` named by the local start time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")  # no ":" (Windows refuses it)
    base = Path(root) / safe_name(f"{prefix}-{stamp}")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_session_path(folder: str | os.PathLike[str], *, os_name: OsName | None = None) -> None:
    """Raise `RecordingError` when the session's files could not be opened on this OS (a
    path too long for Windows), before anything is written."""
    problem = path_too_long(Path(folder), LONGEST_FILE_NAME, os_name=os_name)
    if problem:
        raise RecordingError(problem)


def os_error_reason(exc: BaseException) -> str:
    """A stable name for why a write failed (what code branches on)."""
    if not isinstance(exc, OSError):
        return "error"
    return {
        errno.ENOSPC: "disk_full",
        errno.EDQUOT: "disk_full",
        errno.EACCES: "permission",
        errno.EPERM: "permission",
        errno.EROFS: "read_only",
        errno.ENOENT: "folder_gone",
    }.get(exc.errno or 0, "os_error")


def describe_os_error(exc: BaseException, folder: Path) -> str:
    """A message a user understands for a write failure."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full: no space left in {folder}"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write to {folder}: permission denied"
    if code == errno.EROFS:
        return f"cannot write to {folder}: read-only file system"
    if code == errno.ENOENT:
        return f"the recording folder {folder} disappeared"
    return f"writing to {folder} failed: {exc}"
