"""From a frame to `Face` values: landmarks, track ids, aligned crops and quality flags."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from cer_desktop.contracts import Face, Frame, QualityFlags, frozen_array
from cer_desktop.vision.alignment import align_face, ensure_rgb
from cer_desktop.vision.face_crops import FaceCrops
from cer_desktop.vision.landmarker_file import resolve_task_file
from cer_desktop.vision.landmarks import FaceMeshDetector
from cer_desktop.vision.quality import assess
from cer_desktop.vision.tracking import FaceTracker

#: Faces searched beyond `max_faces`, so that with a crowd the *largest* N are kept and the
#: dropped ones are counted (MediaPipe itself stops at its own limit, in no size order).
_SPARE_FACES = 2
#: Border added around a still image before detection, as a fraction of its longer side.
#: MediaPipe's detector misses faces cropped so tightly that the chin or brows touch the
#: image border; a neutral grey margin gives it the context it was trained with.
STILL_PADDING = 0.25
_PAD_GREY = 128
#: `task_file` default: MediaPipe's face landmarker when its file is found
#: (`landmarker_file.find_landmarker`), else the legacy face mesh.
AUTO = "auto"


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the boxes around two landmark sets."""
    (ax0, ay0), (ax1, ay1) = a[:, :2].min(axis=0), a[:, :2].max(axis=0)
    (bx0, by0), (bx1, by1) = b[:, :2].min(axis=0), b[:, :2].max(axis=0)
    iw = max(0.0, float(min(ax1, bx1) - max(ax0, bx0)))
    ih = max(0.0, float(min(ay1, by1) - max(ay0, by0)))
    inter = iw * ih
    union = float((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0)) - inter
    return inter / union if union > 0 else 0.0


def pad_for_detection(image: np.ndarray, fraction: float) -> tuple[np.ndarray, int]:
    """The image with a grey border of `fraction` x its longer side on every edge, and the
    border's width in pixels (subtract it from landmarks found in the padded image)."""
    import cv2

    pad = int(round(fraction * max(image.shape[:2])))
    if pad <= 0:
        return image, 0
    grey = (_PAD_GREY,) * image.shape[2]
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=grey), pad


def landmark_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The (x, y, w, h) pixel box around the landmarks, clipped to the image."""
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    x0 = int(np.clip(np.floor(xs.min()), 0, width))
    y0 = int(np.clip(np.floor(ys.min()), 0, height))
    x1 = int(np.clip(np.ceil(xs.max()), 0, width))
    y1 = int(np.clip(np.ceil(ys.max()), 0, height))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


@dataclass(frozen=True, slots=True)
class FoundFaces:
    """One frame's faces before tracking (what `find` hands to `track`): the kept faces,
    largest first, each with its landmarks, box, aligned crop, quality and blendshapes."""

    landmarks: tuple[np.ndarray, ...] = ()
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    crops: tuple[np.ndarray, ...] = ()
    qualities: tuple[QualityFlags, ...] = ()
    blendshapes: tuple[Mapping[str, float] | None, ...] = ()
    dropped: int = 0  # faces beyond max_faces seen and left out
    timing: dict[str, float] = field(default_factory=dict)  # "landmarks", "align" in ms


class FaceAnalyzer:
    """Finds, tracks, aligns and rates up to `max_faces` faces per frame.

    Feed the frames of one stream in order to `process` (MediaPipe runs in video mode and
    tracks between frames unless `static_images=True`); call `reset()` when the source
    changes. Not thread-safe: one analyzer per thread. With `static_images=True` each image
    is also searched padded by `still_padding` (a fraction of its longer side,
    `STILL_PADDING` by default), so tightly cropped stills are found; landmarks stay in the
    image's own pixels.

    After each call, `last_timing` holds milliseconds for "landmarks", "align" (alignment
    and quality of all faces) and "track", and `last_dropped_faces` how many faces beyond
    `max_faces` were seen and left out (the smallest go; at most 2 extra are looked for).

    `task_file` picks the landmark model: `AUTO` (the default) uses MediaPipe's Tasks face
    landmarker when `face_landmarker.task` is found (`vision/landmarker_file.py`; its faces
    then carry the 52 blendshapes) and the legacy face mesh otherwise; a path forces that
    task file; None forces the legacy face mesh.

    `lanes` > 1 gives the analyzer that many MediaPipe instances, so the live loop can find
    the faces of consecutive frames at once (`pipeline/analysis_lanes.py`): `find(frame,
    lane)` is the per-frame work (landmarks, alignment, quality; one lane per thread, each
    instance seeing its frames in order) and `track(frame, found)` gives the track ids, in
    frame order. `process(frame)` is the two in one call.

    `face_crops=True` (video only) finds the known faces again in crops around them, each on
    an instance of its own at once, and searches the whole frame every few frames and
    whenever a face is lost (`vision/face_crops.py`): a two-face frame then costs about one
    face's time.
    """

    def __init__(
        self,
        max_faces: int = 4,
        crop_size: int = 224,
        min_face_px: int = 60,
        static_images: bool = False,
        task_file: str | os.PathLike[str] | None = AUTO,
        *,
        max_yaw_deg: float = 40.0,
        min_sharpness: float = 1.0,
        max_track_age: int = 15,
        still_padding: float = STILL_PADDING,
        lanes: int = 1,
        face_crops: bool = False,
    ) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if crop_size < 8:
            raise ValueError(f"crop_size must be at least 8 px, got {crop_size}")
        if not 0.0 <= still_padding <= 2.0:
            raise ValueError(f"still_padding must be within 0..2, got {still_padding}")
        self.still_padding = float(still_padding)
        self.max_faces = int(max_faces)
        self.crop_size = int(crop_size)
        self.min_face_px = float(min_face_px)
        self.static_images = bool(static_images)
        self.task_file: str | os.PathLike[str] | None = (
            resolve_task_file() if isinstance(task_file, str) and task_file == AUTO else task_file
        )
        self.max_yaw_deg = float(max_yaw_deg)
        self.min_sharpness = float(min_sharpness)
        self.tracker = FaceTracker(max_age=max_track_age)
        self.last_timing: dict[str, float] = {"landmarks": 0.0, "align": 0.0, "track": 0.0}
        self.last_dropped_faces = 0
        self.lanes = int(lanes)
        self._detectors: list[FaceMeshDetector | None] = [None] * self.lanes
        self._locks = [threading.Lock() for _ in range(self.lanes)]  # one per MediaPipe instance
        self.face_crops = (
            FaceCrops(self.task_file) if face_crops and not self.static_images else None
        )

    @property
    def landmark_model(self) -> str:
        """ "face landmarker" (Tasks, with blendshapes) or "face mesh" (legacy)."""
        return "face mesh" if self.task_file is None else "face landmarker"

    def _get_detector(self, lane: int = 0) -> FaceMeshDetector:
        # Built on first use so constructing an analyzer (e.g. in the GUI) is instant.
        detector = self._detectors[lane]
        if detector is None:
            detector = self._detectors[lane] = FaceMeshDetector(
                max_faces=self.max_faces + _SPARE_FACES,
                static_images=self.static_images,
                task_file=self.task_file,
            )
        return detector

    def warm_up(self) -> None:
        """Build the landmark model and load the tracker's solver now, not on the first frame.

        Both happen on first use otherwise, and hold that frame up: about 0.5 s for MediaPipe's
        graph and 0.1-0.2 s for SciPy's assignment solver on this project's 2-core machine, a
        gap at the start of every live run and recording. Safe to call more than once.
        """
        self.tracker.warm_up()
        for lane in range(self.lanes):
            with self._locks[lane]:
                self._get_detector(lane)
        if self.face_crops is not None:
            self.face_crops.warm_up(self.max_faces * self.lanes)

    def process(self, frame: Frame) -> list[Face]:
        """The faces of one frame, sorted by track id. [] when there is none.

        Grey, 4-channel, 16-bit and tiny frames are handled (tiny ones give []); an array
        that is not an image at all raises `AlignmentError` (a ValueError).
        """
        return self.track(frame, self.find(frame))

    def find(self, frame: Frame, lane: int = 0) -> FoundFaces:
        """Landmarks, boxes, aligned crops and quality of the largest `max_faces` faces, with
        MediaPipe instance `lane` (its frames must come in order; one thread per lane)."""
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            image = ensure_rgb(image)  # callers should pass RGB; survive grey/BGRA anyway
        h, w = image.shape[:2]
        if h < 8 or w < 8:  # nothing MediaPipe can use; an empty frame is not an error
            return FoundFaces(timing={"landmarks": 0.0, "align": 0.0})
        lane %= self.lanes
        t0 = time.perf_counter()
        crops = self.face_crops
        with self._locks[lane]:
            hit = None
            if crops is not None and not crops.needs_whole(frame.frame_id):
                hit = crops.find(image)
            if hit is None:
                found, blendshapes = self._detect(self._get_detector(lane), image)
            else:
                found, blendshapes = hit
        t1 = time.perf_counter()
        boxes = [landmark_box(lm, w, h) for lm in found]
        order = sorted(range(len(found)), key=lambda i: boxes[i][2] * boxes[i][3], reverse=True)
        keep = order[: self.max_faces]
        if crops is not None:
            crops.remember(frame.frame_id, [found[i] for i in keep], whole=hit is None)
        aligned = [align_face(image, found[i], self.crop_size) for i in keep]
        qualities = [
            assess(
                found[i],
                crop,
                min_face_px=self.min_face_px,
                max_yaw_deg=self.max_yaw_deg,
                min_sharpness=self.min_sharpness,
            )
            for i, crop in zip(keep, aligned, strict=True)
        ]
        t2 = time.perf_counter()
        return FoundFaces(
            landmarks=tuple(found[i] for i in keep),
            boxes=tuple(boxes[i] for i in keep),
            crops=tuple(aligned),
            qualities=tuple(qualities),
            blendshapes=tuple(_frozen_shapes(blendshapes, i) for i in keep),
            dropped=len(found) - len(keep),
            timing={"landmarks": (t1 - t0) * 1000.0, "align": (t2 - t1) * 1000.0},
        )

    def track(self, frame: Frame, found: FoundFaces) -> list[Face]:
        """`found`'s faces with their track ids, sorted by id. Call in frame order."""
        t0 = time.perf_counter()
        ids = self.tracker.update(list(found.boxes))
        faces = [
            Face(
                track_id=track_id,
                frame_id=frame.frame_id,
                box=found.boxes[k],
                landmarks=frozen_array(found.landmarks[k]),
                aligned=frozen_array(found.crops[k]),
                quality=found.qualities[k],
                blendshapes=found.blendshapes[k],
            )
            for k, track_id in enumerate(ids)
        ]
        self.last_dropped_faces = found.dropped
        self.last_timing = {**found.timing, "track": (time.perf_counter() - t0) * 1000.0}
        faces.sort(key=lambda f: f.track_id)
        return faces

    def _detect(
        self, detector: FaceMeshDetector, image: np.ndarray
    ) -> tuple[list[np.ndarray], list[Mapping[str, float] | None] | None]:
        """Landmarks (and blendshapes) of the faces in `image`.

        A still is searched twice: padded (tight crops are found, and their landmarks are
        better with the context) and as it is (small faces in a large photo shrink further
        when padded); a face found both ways keeps its padded landmarks.
        """
        if not (self.static_images and self.still_padding > 0.0):
            found_plain = detector.detect(image)
            return found_plain, _optional_shapes(detector.last_blendshapes)
        padded, pad = pad_for_detection(image, self.still_padding)
        found = detector.detect(padded)
        shapes: list[Mapping[str, float] | None] = list(detector.last_blendshapes or [])
        shapes += [None] * (len(found) - len(shapes))
        offset = np.array([pad, pad, 0], dtype=np.float32)
        found = [lm - offset[: lm.shape[1]] for lm in found]
        plain = detector.detect(image)
        plain_shapes: list[Mapping[str, float] | None] = list(detector.last_blendshapes or [])
        plain_shapes += [None] * (len(plain) - len(plain_shapes))
        for lm, bs in zip(plain, plain_shapes, strict=True):
            if all(_overlap(lm, other) < 0.3 for other in found):
                found.append(lm)
                shapes.append(bs)
        return found, (shapes if any(s is not None for s in shapes) else None)

    def reset(self) -> None:
        """Forget tracks and MediaPipe's tracking state (e.g. when the source changes)."""
        self.tracker.reset()
        self.close()

    def close(self) -> None:
        """Release MediaPipe. Safe to call twice; `process` afterwards starts it again."""
        with contextlib.ExitStack() as held:  # every lane's lock: none is finding faces meanwhile
            for lock in self._locks:
                held.enter_context(lock)
            for lane, detector in enumerate(self._detectors):
                self._detectors[lane] = None
                if detector is not None:
                    detector.close()
            if self.face_crops is not None:
                self.face_crops.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _optional_shapes(
    shapes: Sequence[Mapping[str, float]] | None,
) -> list[Mapping[str, float] | None] | None:
    return None if shapes is None else list(shapes)


def _frozen_shapes(
    shapes: Sequence[Mapping[str, float] | None] | None, i: int
) -> Mapping[str, float] | None:
    """Face i's blendshapes as a read-only mapping (None when there are none)."""
    if not shapes or i >= len(shapes):
        return None
    one = shapes[i]
    return None if one is None else MappingProxyType(dict(one))
