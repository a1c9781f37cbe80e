"""What a session is built from by default: frame sources, the face analyzer, the instant
recognizer, the cameras found. Injectable, so tests run sessions on fakes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from cer_desktop.capture.base import FrameSource
from cer_desktop.contracts import Recognizer

log = logging.getLogger(__name__)

SourceFactory = Callable[[str], FrameSource]
AnalyzerFactory = Callable[[int, int], Any]  # (max_faces, crop_size) -> FaceAnalyzer


def default_source_factory(spec: str) -> FrameSource:
    """`open_source(spec)` from the capture package (640x480, 30 fps)."""
    from cer_desktop.capture.sources import open_source

    return open_source(spec, width=640, height=480, fps=30.0)


ENV_LANES = "CER_ANALYSIS_LANES"


def analysis_lanes() -> int:
    """MediaPipe instances a live session finds faces with at once (pipeline/analysis_lanes.py):
    2 on a machine of 2 or more cores, else 1; `$CER_ANALYSIS_LANES` (1-4) sets it."""
    value = os.environ.get(ENV_LANES, "").strip()
    if value:
        try:
            return max(1, min(4, int(value)))
        except ValueError:
            log.warning("%s=%r is not a number of lanes (1-4); using the default", ENV_LANES, value)
    return 2 if (os.cpu_count() or 1) >= 2 else 1


ENV_FACE_CROPS = "CER_FACE_CROPS"


def face_crops() -> bool:
    """Whether a live session finds known faces again in crops, each on its own MediaPipe
    instance at once (vision/face_crops.py): on a machine of 2 or more cores; `$CER_FACE_CROPS`
    (0 or 1) sets it."""
    value = os.environ.get(ENV_FACE_CROPS, "").strip()
    if value in ("0", "1"):
        return value == "1"
    if value:
        log.warning("%s=%r is neither 0 nor 1; using the default", ENV_FACE_CROPS, value)
    return (os.cpu_count() or 1) >= 2


def default_analyzer_factory(max_faces: int, crop_size: int = 224) -> Any:
    from cer_desktop.vision.analyzer import FaceAnalyzer

    return FaceAnalyzer(
        max_faces=max_faces,
        crop_size=crop_size,
        lanes=analysis_lanes(),
        face_crops=face_crops(),
    )


def instant_recognizer(threshold: float = 0.0) -> Recognizer:
    """The always-available recognizer (no weights)."""
    from cer_desktop.recognition.instant import InstantRecognizer

    return InstantRecognizer(threshold=threshold)


def list_camera_specs() -> list[tuple[str, str]]:
    """(title, spec) for each camera found; empty when there is none (or capture is missing)."""
    return camera_specs_with_problem()[0]


def camera_specs_with_problem() -> tuple[list[tuple[str, str]], str]:
    """(title, spec) for each camera found, and what keeps the cameras from the app, if
    anything (macOS' camera permission: where to allow it), for the window to say."""
    try:
        from cer_desktop.capture.sources import CameraPermissionDenied, list_cameras
    except Exception as exc:  # no capture backend: the demo still works
        log.warning("listing cameras failed: %s", exc)
        return [], ""
    try:
        cams = list_cameras()
    except CameraPermissionDenied as exc:
        log.warning("%s", exc)
        return [], str(exc)
    except Exception as exc:
        log.warning("listing cameras failed: %s", exc)
        return [], ""
    out = []
    for cam in cams:
        index = getattr(cam, "index", None)
        name = getattr(cam, "name", "")
        spec = getattr(cam, "spec", None) or f"camera:{index}"
        out.append((f"Camera {index}" + (f": {name}" if name else ""), str(spec)))
    return out, ""


class AnalyzerCache:
    """Keeps one face analyzer across runs; rebuilds it only when the face limit or the crop
    size changes (MediaPipe's graphs take a while to build), else resets its tracking."""

    def __init__(self, factory: AnalyzerFactory) -> None:
        self._factory = factory
        self.analyzer: Any = None

    @property
    def crop_size(self) -> int | None:
        return getattr(self.analyzer, "crop_size", None)

    def get(self, max_faces: int, crop_size: int) -> Any:
        """The analyzer for these settings (may raise what the factory raises)."""
        a = self.analyzer
        if (
            a is None
            or getattr(a, "max_faces", None) != max_faces
            or getattr(a, "crop_size", None) != crop_size
        ):
            self.close()
            self.analyzer = self._factory(max_faces, crop_size)
        else:
            a.reset()
        return self.analyzer

    def build(self, max_faces: int, crop_size: int) -> Any:
        """A new analyzer for these settings, not yet kept (the caller swaps it into a running
        pipeline, then sets `analyzer`); may raise what the factory raises."""
        return self._factory(max_faces, crop_size)

    def close(self) -> None:
        a, self.analyzer = self.analyzer, None
        self.close_one(a)

    @staticmethod
    def close_one(analyzer: Any) -> None:
        """Close an analyzer no run uses any more (a failure is logged)."""
        if analyzer is not None:
            try:
                analyzer.close()
            except Exception:
                log.exception("closing the analyzer failed")
