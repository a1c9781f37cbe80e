"""Where painted frames go, and the named policies for when a consumer (or the recognizer)
falls behind."""

from __future__ import annotations

import enum
from typing import Protocol

import numpy as np

from cer_desktop.contracts import Annotation


class DeliveryPolicy(enum.Enum):
    """What a consumer gets when it is slower than capture.

    NEWEST_ONLY: the display; only the newest painted frame matters, older ones are replaced.
    DROP_WHEN_FULL: a live recorder; a bounded queue, a full queue drops the frame and counts it
        (capture and the view never wait).
    BLOCK_WHEN_FULL: offline annotation; the pipeline waits, every frame is processed.
    """

    NEWEST_ONLY = "newest_only"
    DROP_WHEN_FULL = "drop_when_full"
    BLOCK_WHEN_FULL = "block_when_full"


class RequestPolicy(enum.Enum):
    """What the recognizer's request slot does when requests come faster than answers
    (worker.py).

    ONE_PENDING_NEWEST_WINS: live; one request waits, a newer one replaces it (counted).
    Offline runs submit in order instead (`inflight.py`): every frame is answered.
    """

    ONE_PENDING_NEWEST_WINS = "one_pending_newest_wins"


class AnnotationSink(Protocol):
    """Receives every painted frame from the pipeline thread.

    `submit` must return quickly on the live path; it returns False when the frame was dropped
    (and the sink counts it). `painted` is RGB uint8, the exact pixels the user sees.

    A sink that reads only the annotation's values (the live streams) may say so with a class
    attribute `before_paint = True`: it then gets each frame as soon as its values are known,
    before the overlay is painted (a few ms sooner), and `painted` is the unpainted frame.
    """

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool: ...

    def close(self) -> None: ...
