"""Fakes for tests and benchmarks: recognizers with known output or latency, sources, sinks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError
from cer_desktop.contracts import Annotation, Face, Prediction, QualityFlags, RecognizerError
from cer_desktop.labels import LabelSet


def _probs_for(label_set: LabelSet, top: int | str, p_top: float) -> tuple[float, ...]:
    n = len(label_set)
    idx = label_set.index(top) if isinstance(top, str) else int(top) % n
    if n == 1:
        return (1.0,)
    rest = (1.0 - p_top) / (n - 1)
    return tuple(p_top if i == idx else rest for i in range(n))


class FixedRecognizer:
    """Always answers the same label (by index or name) with probability `p_top`."""

    def __init__(self, top: int | str = 0, p_top: float = 0.8, name: str = "fixed") -> None:
        self.top = top
        self.p_top = p_top
        self.name = name
        self.calls = 0
        self.closed = False

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        self.calls += 1
        probs = _probs_for(label_set, self.top, self.p_top)
        return [
            Prediction(f.track_id, f.frame_id, label_set, probs, recognizer=self.name)
            for f in faces
        ]

    def close(self) -> None:
        self.closed = True


class BusyRecognizer:
    """Keeps ONE core busy for `busy_ms` per call with torch matrix products, like a model.

    Not a sleep: each call spends `busy_ms` of its thread's CPU time computing, on one thread
    (`torch.set_num_threads(1)` in the calling thread), so it competes for the CPU the way a
    real recognizer does (on an idle core a call takes `busy_ms`). Returns valid predictions
    whose top label cycles with the call count.
    """

    def __init__(self, busy_ms: float = 500.0, name: str = "busy", size: int = 256) -> None:
        self.busy_ms = float(busy_ms)
        self.name = name
        self.size = size
        self.calls = 0
        self.last_checksum = 0.0
        self._a = None

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        import torch

        torch.set_num_threads(1)
        a = self._a
        if a is None:
            g = torch.Generator().manual_seed(0)
            a = self._a = torch.randn(self.size, self.size, generator=g) / self.size**0.5
        b = a.clone()
        t0 = time.perf_counter()
        # Count this thread's CPU time, not wall time: the call does a fixed amount of work,
        # so on a contended machine it takes longer, the way a real model does.
        cpu0 = time.thread_time()
        budget = self.busy_ms / 1000.0
        while time.thread_time() - cpu0 < budget:
            b = torch.tanh(a @ b)
        self.calls += 1
        # Keep the result alive so the computation is real work, not dead code.
        self.last_checksum = float(b.abs().sum())
        top = self.calls % len(label_set)
        probs = _probs_for(label_set, top, 0.6)
        ms = (time.perf_counter() - t0) * 1000.0
        return [
            Prediction(
                f.track_id, f.frame_id, label_set, probs, recognizer=self.name, latency_ms=ms
            )
            for f in faces
        ]

    def close(self) -> None:
        self._a = None


class GatedRecognizer:
    """A recognizer whose calls wait until the test lets them go: deterministic latency.

    `started` is set when a call begins (its frame ids go to `seen`); the call returns when
    `release()` is called (or at once when `gated` is False).
    """

    def __init__(self, top: int | str = 0, name: str = "gated") -> None:
        self.name = name
        self.top = top
        self.gated = True
        self.started = threading.Event()
        self._go = threading.Semaphore(0)
        self.seen: list[int] = []

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self._go.release()

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        self.seen.append(faces[0].frame_id if faces else -1)
        self.started.set()
        if self.gated:
            if not self._go.acquire(timeout=10.0):
                raise RecognizerError("gated recognizer was never released")
        probs = _probs_for(label_set, self.top, 0.7)
        return [
            Prediction(f.track_id, f.frame_id, label_set, probs, recognizer=self.name)
            for f in faces
        ]

    def close(self) -> None:
        self.gated = False
        self.release(100)


class FailingRecognizer:
    """Raises `RecognizerError(message)` on every call (or after `ok_calls` good ones)."""

    def __init__(
        self, message: str = "model exploded", ok_calls: int = 0, name: str = "failing"
    ) -> None:
        self.message = message
        self.ok_calls = ok_calls
        self.name = name
        self.calls = 0

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        self.calls += 1
        if self.calls > self.ok_calls:
            raise RecognizerError(self.message)
        probs = _probs_for(label_set, 0, 0.9)
        return [
            Prediction(f.track_id, f.frame_id, label_set, probs, recognizer=self.name)
            for f in faces
        ]

    def close(self) -> None:
        pass


def make_face(
    frame_id: int,
    track_id: int = 0,
    box: tuple[int, int, int, int] = (200, 140, 220, 220),
    crop_size: int = 224,
    quality: QualityFlags | None = None,
) -> Face:
    """A plausible `Face` value without running MediaPipe (landmarks spread over the box)."""
    x, y, w, h = box
    rng = np.random.default_rng(track_id)
    lm = np.zeros((478, 3), np.float32)
    lm[:, 0] = x + rng.uniform(0.1, 0.9, 478) * w
    lm[:, 1] = y + rng.uniform(0.1, 0.9, 478) * h
    aligned = np.full((crop_size, crop_size, 3), 128, np.uint8)
    return Face(track_id, frame_id, box, lm, aligned, quality or QualityFlags())


class FakeAnalyzer:
    """Stands in for `FaceAnalyzer`: the same boxes on every frame (none on `no_face_frames`)."""

    def __init__(
        self,
        boxes: Sequence[tuple[int, int, int, int]] = ((200, 140, 220, 220),),
        no_face_frames: Sequence[int] = (),
        delay_s: float = 0.0,
    ) -> None:
        self.boxes = tuple(boxes)
        self.no_face_frames = set(no_face_frames)
        self.delay_s = delay_s
        self.last_timing: dict[str, float] = {}
        self.calls = 0
        self.closed = False

    def process(self, frame) -> list[Face]:  # noqa: ANN001 - a Frame
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        self.last_timing = {"landmarks": 1.0, "align": 0.5, "track": 0.1}
        if frame.frame_id in self.no_face_frames:
            return []
        return [make_face(frame.frame_id, i, b) for i, b in enumerate(self.boxes)]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class ListSource(FrameSource):
    """Frames from a list of images; `live` paces at `fps`; `fail_at` raises SourceError there."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        *,
        fps: float | None = None,
        live: bool = False,
        fail_at: int | None = None,
        loop: bool = False,
        description: str = "list",
    ) -> None:
        super().__init__(description)
        self._images = list(images)
        self._fps = fps
        self.is_live = live
        self._fail_at = fail_at
        self._loop = loop
        self._i = 0
        self._t0 = 0.0

    @property
    def fps(self) -> float | None:
        return self._fps

    def _open(self) -> None:
        self._t0 = time.monotonic()

    def _read(self) -> np.ndarray | None:
        if self._fail_at is not None and self._i >= self._fail_at:
            raise SourceError(f"{self.description}: the camera stopped delivering frames")
        if self._i >= len(self._images):
            if not self._loop or not self._images:
                return None
        if self.is_live and self._fps:
            due = self._t0 + self._i / self._fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        image = self._images[self._i % len(self._images)]
        self._i += 1
        return image

    def _close(self) -> None:
        pass


def synthetic_frames(n: int, width: int = 640, height: int = 480) -> list[np.ndarray]:
    """`n` distinct RGB frames (a moving gradient), cheap to make."""
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    out = []
    for i in range(n):
        r = (xs + i * 7) % 256
        g = (ys + i * 3) % 256
        b = np.full((height, width), (i * 11) % 256, np.float32)
        out.append(np.dstack([r + 0 * ys, g + 0 * xs, b]).astype(np.uint8))
    return out


class CollectingSink:
    """Keeps every (annotation, painted) it receives; never drops."""

    def __init__(self) -> None:
        self.items: list[tuple[Annotation, np.ndarray]] = []
        self.closed = False
        self._lock = threading.Lock()

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        with self._lock:
            self.items.append((annotation, painted))
        return True

    def close(self) -> None:
        self.closed = True

    @property
    def frame_ids(self) -> list[int]:
        with self._lock:
            return [a.frame.frame_id for a, _ in self.items]


class SlowSink(CollectingSink):
    """Takes `delay_s` per frame inside `submit` (a sink that would stall capture if blocking)."""

    def __init__(
        self, delay_s: float = 0.05, on_submit: Callable[[Annotation], None] | None = None
    ) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.on_submit = on_submit

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        time.sleep(self.delay_s)
        if self.on_submit:
            self.on_submit(annotation)
        return super().submit(annotation, painted)


class DroppingSink(CollectingSink):
    """Accepts only every `keep_every`-th frame and reports the others as dropped."""

    def __init__(self, keep_every: int = 2) -> None:
        super().__init__()
        self.keep_every = keep_every
        self._n = 0

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        self._n += 1
        if self._n % self.keep_every:
            return False
        return super().submit(annotation, painted)


class FlakyCapture:
    """A `cv2.VideoCapture` stand-in for `CameraSource(capture_factory=...)`: a camera that
    delivers `image` (RGB) at `fps`, is unplugged after `fail_after` frames (reads fail,
    reopening fails) for `gone_s` s from its first failed read, then works again. Counting
    frames, not seconds, makes the loss land mid-stream however slow the machine is.
    `opens` counts open attempts."""

    def __init__(
        self,
        image: np.ndarray,
        *,
        fps: float = 30.0,
        fail_after: int = 30,
        gone_s: float = 1.0,
    ) -> None:
        self._bgr = np.ascontiguousarray(image[..., ::-1])
        self.fps = fps
        self.fail_after, self.gone_s = fail_after, gone_s
        self.opens = 0
        self.delivered = 0
        self._gone_at: float | None = None
        self._next = 0.0
        self.released = False

    def __call__(self, device: object, backend: object) -> FlakyCapture:
        self.opens += 1
        return self

    def _gone(self) -> bool:
        if self.delivered < self.fail_after:
            return False
        if self._gone_at is None:
            self._gone_at = time.monotonic()
        return time.monotonic() - self._gone_at < self.gone_s

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return not self._gone()

    def set(self, prop: object, value: object) -> bool:
        return True

    def get(self, prop: object) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next, time.monotonic()) + 1.0 / self.fps
        if self._gone():
            return False, None
        self.delivered += 1
        return True, self._bgr.copy()

    def release(self) -> None:
        self.released = True
