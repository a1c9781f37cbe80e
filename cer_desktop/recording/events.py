"""The session's event log (JSON Lines): markers with notes, label-set changes, start and stop."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class EventLog:
    """Appends one JSON object per line and syncs it at once (events are rare and precious).

    Thread-safe: the GUI thread adds markers while the writer thread logs set changes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Log an event of type `kind` with extra fields; returns the record written."""
        record = {
            "type": kind,
            "wall_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **fields,
        }
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._file is None:
                raise ValueError("the event log is closed")
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self.count += 1
        return record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                finally:
                    self._file = None


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a log; a cut-off last line (after a crash) is skipped."""
    events: list[dict[str, Any]] = []
    p = Path(path)
    if not p.exists():
        return events
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
