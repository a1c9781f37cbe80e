"""The built-in demo source: a real face (scikit-image's astronaut) acting out expressions.

Needs no camera and no download. Expression frames are rendered with `ExpressionWarper`
(landmark-region warps) once per process and cached at ~10 intensity steps per expression;
per frame only a gentle head motion (one affine warp of the whole frame) is applied, so
`read()` costs a couple of milliseconds.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import threading
import time
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from cer_desktop.capture.base import FrameSource
from cer_desktop.capture.pacing import Pacer
from cer_desktop.vision.expression_warp import EXPRESSIONS, ExpressionWarper, UnknownExpression

__all__ = ["DEFAULT_SCRIPT", "DemoSource", "DemoStep"]

log = logging.getLogger(__name__)

LANDMARKS_RESOURCE = "demo/astronaut_landmarks.npy"
"""MediaPipe's landmarks of the astronaut, shipped so the demo needs no face detection."""


@dataclass(frozen=True, slots=True)
class DemoStep:
    """One expression of the demo script, held `hold` seconds at full intensity."""

    expression: str
    hold: float = 1.5


DEFAULT_SCRIPT: tuple[DemoStep, ...] = (
    DemoStep("happy"),
    DemoStep("surprise"),
    DemoStep("anger"),
    DemoStep("sad"),
    DemoStep("happily_surprised"),
    DemoStep("fear"),
    DemoStep("disgust"),
    DemoStep("sadly_angry"),
    DemoStep("fearfully_surprised"),
)
"""Each expression ramps up from neutral, holds, and ramps back down to neutral."""


@dataclass(frozen=True, slots=True)
class _Segment:
    start: float
    end: float
    expression: str
    kind: str  # "rest" (neutral), "up", "hold", "down"


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _load_landmarks() -> np.ndarray:
    """The astronaut's 478 landmarks: shipped package data, else detected with MediaPipe."""
    try:
        data = (resources.files("cer_desktop.resources") / LANDMARKS_RESOURCE).read_bytes()
        lm = np.load(io.BytesIO(data), allow_pickle=False)
        if lm.shape == (478, 3):
            return lm.astype(np.float64)
        log.warning("ignoring %s of shape %s", LANDMARKS_RESOURCE, lm.shape)
    except (FileNotFoundError, OSError, ValueError) as exc:
        log.info("no shipped demo landmarks (%s); detecting them", exc)
    from cer_desktop.vision.expression_warp import astronaut_landmarks

    return np.asarray(astronaut_landmarks(), dtype=np.float64)


class _DemoRenderer:
    """The demo's base frame and its expression patches (face box only), cached by step."""

    def __init__(self, width: int, height: int, steps: int) -> None:
        from skimage import data

        photo = np.ascontiguousarray(data.astronaut())
        landmarks = _load_landmarks()
        # Frame the face like a webcam would: face about 40% of the frame height.
        lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
        face_h = float(hi[1] - lo[1])
        crop_h = min(2.7 * face_h, photo.shape[0])
        crop_w = crop_h * width / height
        if crop_w > photo.shape[1]:
            crop_w = photo.shape[1]
            crop_h = crop_w * height / width
        cx = float((lo[0] + hi[0]) / 2)
        cy = float((lo[1] + hi[1]) / 2) + 0.08 * crop_h  # a little neck and shoulders
        x0 = min(max(cx - crop_w / 2, 0.0), photo.shape[1] - crop_w)
        y0 = min(max(cy - crop_h / 2, 0.0), photo.shape[0] - crop_h)
        scale = width / crop_w
        m = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        self.base = cv2.warpAffine(
            photo, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
        )
        lm = landmarks.copy()
        lm[:, :2] = lm[:, :2] @ m[:, :2].T + m[:, 2]
        lm[:, 2] *= scale
        self.landmarks = lm
        self.warper = ExpressionWarper(self.base, lm)
        self.box = self.warper.box
        self.steps = steps
        x, y, w, h = self.box
        self._neutral = np.ascontiguousarray(self.base[y : y + h, x : x + w])
        self._patches: dict[tuple[str, int], np.ndarray] = {}
        self._lock = threading.Lock()
        # The head turns about the face centre.
        self.face_centre = (float(lm[:, 0].mean()), float(lm[:, 1].mean()))

    def patch(self, expression: str, step: int) -> np.ndarray:
        """The face box showing `expression` at intensity step/steps (rendered once)."""
        if step <= 0 or expression == "neutral":
            return self._neutral
        key = (expression, min(step, self.steps))
        with self._lock:
            cached = self._patches.get(key)
        if cached is not None:
            return cached
        x, y, w, h = self.box
        full = self.warper.warp(expression, key[1] / self.steps)
        patch = np.ascontiguousarray(full[y : y + h, x : x + w])
        patch.flags.writeable = False
        with self._lock:
            self._patches.setdefault(key, patch)
        return patch

    def is_cached(self, expression: str, step: int) -> bool:
        with self._lock:
            return step <= 0 or (expression, step) in self._patches


@functools.lru_cache(maxsize=4)
def _renderer(width: int, height: int, steps: int) -> _DemoRenderer:
    return _DemoRenderer(width, height, steps)


class DemoSource(FrameSource):
    """A live, camera-free source: the astronaut's face going through `script`, 30 fps.

    The demo opens on `lead_in` seconds of neutral face (enough for a recognizer to learn a
    neutral baseline; only before the first pass). Then each step of `script` ramps from
    neutral to the expression (`ramp` seconds, smooth), holds it, and ramps back, with `rest`
    seconds of neutral before each step. A gentle head motion (a few pixels, a few degrees, a
    few percent of scale) runs throughout. With `loop=True` (the default) the script repeats
    forever; otherwise `read()` returns None after one pass.

    `current_expression` / `current_intensity` say what the last frame shows;
    `expression_at(t)` and `render(t)` give any moment of the script without pacing.
    Expression frames are rendered once per process: `open()` starts a background thread
    that renders them ahead (joined by `close()`); a frame not rendered yet is rendered on
    the spot.
    """

    is_live = True

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        loop: bool = True,
        script: tuple[DemoStep, ...] | list[DemoStep] | None = None,
        ramp: float = 0.5,
        rest: float = 0.8,
        lead_in: float = 3.0,
        steps: int = 10,
        head_motion: bool = True,
    ) -> None:
        super().__init__(f"demo ({width}x{height} @ {fps:g} fps)")
        if width < 64 or height < 64:
            raise ValueError(f"the demo needs at least 64x64 pixels, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self._fps = float(fps)
        self._pacer = Pacer(self._fps)
        self.loop = loop
        self.script: tuple[DemoStep, ...] = tuple(script) if script is not None else DEFAULT_SCRIPT
        for step in self.script:
            if step.expression not in EXPRESSIONS:
                raise UnknownExpression(
                    f"unknown demo expression {step.expression!r}; known: {', '.join(EXPRESSIONS)}"
                )
        self.ramp, self.rest, self.steps = float(ramp), float(rest), max(int(steps), 1)
        self.lead_in = max(float(lead_in), 0.0)
        self.head_motion = head_motion
        self._segments = self._build_timeline()
        self.current_expression = "neutral"
        self.current_intensity = 0.0
        self._t0 = 0.0
        self._stop = threading.Event()
        self._prerender: threading.Thread | None = None
        self._renderer_obj: _DemoRenderer | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def duration(self) -> float:
        """Seconds of the first pass through the script (lead-in included)."""
        return self.lead_in + self._segments[-1].end

    # --- the script ------------------------------------------------------------------------

    def _build_timeline(self) -> list[_Segment]:
        segs: list[_Segment] = []
        t = 0.0
        for step in self.script:
            for kind, length in (
                ("rest", self.rest),
                ("up", self.ramp),
                ("hold", step.hold),
                ("down", self.ramp),
            ):
                if length > 0:
                    segs.append(_Segment(t, t + length, step.expression, kind))
                    t += length
        if not segs:
            segs.append(_Segment(0.0, max(self.rest, 1.0), "neutral", "rest"))
        return segs

    def expression_at(self, t: float) -> tuple[str, float]:
        """(expression, intensity 0..1) shown `t` seconds after the start (wrapping around)."""
        if t < self.lead_in:
            return "neutral", 0.0
        cycle = self._segments[-1].end
        t = (t - self.lead_in) % cycle if cycle > 0 else 0.0
        for seg in self._segments:
            if seg.start <= t < seg.end:
                x = (t - seg.start) / (seg.end - seg.start)
                if seg.kind == "rest":
                    return "neutral", 0.0
                if seg.kind == "up":
                    return seg.expression, _smoothstep(x)
                if seg.kind == "down":
                    return seg.expression, _smoothstep(1.0 - x)
                return seg.expression, 1.0
        return "neutral", 0.0

    def timeline(self) -> list[tuple[float, float, str]]:
        """(start, end, expression) of every full-intensity hold of the first pass, in order."""
        return [
            (self.lead_in + s.start, self.lead_in + s.end, s.expression)
            for s in self._segments
            if s.kind == "hold"
        ]

    # --- rendering -------------------------------------------------------------------------

    def _renderer(self) -> _DemoRenderer:
        if self._renderer_obj is None:
            self._renderer_obj = _renderer(self.width, self.height, self.steps)
        return self._renderer_obj

    def render(self, t: float) -> np.ndarray:
        """The RGB frame `t` seconds into the script (no pacing, no state change)."""
        expression, intensity = self.expression_at(t)
        return self._compose(t, expression, intensity)

    def _compose(self, t: float, expression: str, intensity: float) -> np.ndarray:
        r = self._renderer()
        patch = r.patch(expression, int(round(intensity * self.steps)))
        x, y, w, h = r.box
        canvas = r.base.copy()
        canvas[y : y + h, x : x + w] = patch
        if not self.head_motion:
            return canvas
        return cv2.warpAffine(
            canvas,
            self._head_matrix(t, r.face_centre),
            (self.width, self.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )

    def _head_matrix(self, t: float, centre: tuple[float, float]) -> np.ndarray:
        # Incommensurate periods so the motion never looks like a loop.
        angle = 3.0 * math.sin(2 * math.pi * t / 7.3)
        scale = 1.0 + 0.04 * math.sin(2 * math.pi * t / 11.1 + 0.5)
        size = min(self.width, self.height)
        tx = 0.025 * size * math.sin(2 * math.pi * t / 5.9)
        ty = 0.015 * size * math.sin(2 * math.pi * t / 8.7 + 1.0)
        m = cv2.getRotationMatrix2D(centre, angle, scale)
        m[0, 2] += tx
        m[1, 2] += ty
        return m

    def _prerender_all(self) -> None:
        r = self._renderer()
        for step in self.script:
            for k in range(1, self.steps + 1):
                if self._stop.is_set():
                    return
                if not r.is_cached(step.expression, k):
                    r.patch(step.expression, k)

    # --- FrameSource -----------------------------------------------------------------------

    def _open(self) -> None:
        self._renderer()  # the neutral frame is ready before the first read
        self._stop.clear()
        self._prerender = threading.Thread(
            target=self._prerender_all, name="cer-demo-prerender", daemon=True
        )
        self._prerender.start()
        self._t0 = time.monotonic()

    def _read(self) -> np.ndarray | None:
        self._pacer.wait()
        if self._stop.is_set():
            return None
        t = time.monotonic() - self._t0
        if not self.loop and t >= self.duration:
            return None
        expression, intensity = self.expression_at(t)
        self.current_expression = expression if intensity > 0 else "neutral"
        self.current_intensity = intensity
        return self._compose(t, expression, intensity)

    def _close(self) -> None:
        self._stop.set()
        self._pacer.interrupt()
        if self._prerender is not None:
            self._prerender.join()
            self._prerender = None
