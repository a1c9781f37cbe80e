"""The frame-source interface: a small state machine every source (camera, file, demo) follows."""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime

import numpy as np

from cer_desktop.contracts import Frame, frozen_array


class SourceState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    STOPPED = "stopped"


class SourceError(RuntimeError):
    """A source that cannot deliver frames (no camera, unreadable file, camera gone)."""


class SourceLost(SourceError):
    """A live source stopped delivering but may come back (a camera unplugged or taken by
    another program): `read()` again later retries; the source stays RUNNING."""


class IllegalTransition(SourceError):
    """open() on a running or stopped source, read() before open()..."""


class FrameSource(ABC):
    """Delivers `Frame`s. IDLE --open()--> RUNNING --close()--> STOPPED (final).

    `read()` returns the next frame, `None` at the end of a finite source, and raises
    `SourceError` when the source fails. Live sources (`is_live`) pace themselves; file
    sources return frames as fast as they are read and say their native `fps`.
    """

    is_live: bool = False

    def __init__(self, description: str) -> None:
        self.description = description
        self._state = SourceState.IDLE
        self._lock = threading.Lock()
        self._next_id = 0

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def fps(self) -> float | None:
        """Native frame rate if known."""
        return None

    def open(self) -> None:
        with self._lock:
            if self._state is not SourceState.IDLE:
                raise IllegalTransition(
                    f"cannot open a {self._state.value} source ({self.description})"
                )
            self._open()
            self._state = SourceState.RUNNING

    def read(self) -> Frame | None:
        if self._state is not SourceState.RUNNING:
            raise IllegalTransition(
                f"cannot read from a {self._state.value} source ({self.description})"
            )
        image = self._read()
        if image is None:
            return None
        return self._make_frame(image)

    def close(self) -> None:
        with self._lock:
            if self._state is SourceState.RUNNING:
                self._close()
            self._state = SourceState.STOPPED

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_frame(self, image: np.ndarray, t_capture: float | None = None) -> Frame:
        frame = Frame(
            frame_id=self._next_id,
            t_capture=time.monotonic() if t_capture is None else t_capture,
            wall_time=datetime.now(UTC),
            image=frozen_array(image),
            source=self.description,
        )
        self._next_id += 1
        return frame

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _read(self) -> np.ndarray | None:
        """The next image as RGB uint8 (H, W, 3), None at the end; raise SourceError on failure."""

    @abstractmethod
    def _close(self) -> None: ...
