"""What a recognizer call gives back, and the slot that keeps the newest results.

`RecognitionResult` is one request's predictions (or the error that prevented them);
`ResultSlot` keeps the newest few, so the live loop can paint frame N with the newest result
for N or an earlier frame while N+1 is already being recognised.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from cer_desktop.contracts import Prediction
from cer_desktop.labels import LabelSet


@dataclass(frozen=True, slots=True)
class RecognitionResult:
    """The predictions for one request, or the error that prevented them."""

    frame_id: int
    predictions: tuple[Prediction, ...]
    label_set: LabelSet
    recognizer: str
    latency_ms: float
    error: str = ""  # the main recognizer's error, if any (predictions may come from fallback)
    used_fallback: bool = False


class ResultSlot:
    """Holds the newest result; refuses results older than (or as old as) the one it holds.

    The last few are kept too: the live loop paints frame N while frame N+1 is analysed and
    perhaps already recognised, and frame N must not show a label computed for N+1.
    """

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._recent: deque[RecognitionResult] = deque(maxlen=keep)

    def offer(self, result: RecognitionResult) -> bool:
        """Keep `result` if it is newer than the held one; True when kept."""
        with self._lock:
            if self._recent and result.frame_id <= self._recent[-1].frame_id:
                return False
            self._recent.append(result)
            return True

    def get(self) -> RecognitionResult | None:
        with self._lock:
            return self._recent[-1] if self._recent else None

    def up_to(self, frame_id: int) -> RecognitionResult | None:
        """The newest result for `frame_id` or an earlier frame (None if none is kept)."""
        with self._lock:
            for r in reversed(self._recent):
                if r.frame_id <= frame_id:
                    return r
            return None

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
