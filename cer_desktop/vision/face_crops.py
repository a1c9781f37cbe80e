"""Each known face found again in a crop around where it was, on a MediaPipe instance of its
own, all faces of a frame at once.

MediaPipe's face landmarker runs its faces one after another on one inference thread: on this
project's 2-core machine a two-face 640x480 frame takes 25-30 ms, most of a 30 fps frame's
time. Found again in crops (one face per crop) the faces of a frame run side by side, one per
instance: `FaceAnalyzer.find` took 21 ms a two-face frame instead of 32 (same frames,
interleaved, 2026-12-07), boxes within 1 px (median) of the whole-frame ones
(`tests/vision/test_face_crops.py`). The instances run in VIDEO mode, so they skip the face
detector and track the face within its crop; every crop is centred on its face at twice its
size, so any instance serves any face (landmarks 0.4-0.5 px from a fresh detection's on a
200 px face moving up to 22 px a frame; IMAGE mode, detecting in every crop, costs about
2 ms a face more). The whole frame is still searched every `whole_every` frames (faces that
came in), when no face is known, and on any frame where a crop lost its face or two crops
found the same one; that search is the caller's (`FaceAnalyzer.find`), so faces are never
missing for a frame.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from cer_desktop.vision.landmarks import FaceMeshDetector
from cer_desktop.vision.tracking import Box, iou

#: A crop reaches this many face sizes out from the face's centre (so it is twice the face):
#: room for a second of head movement at 30 fps, and the context MediaPipe's detector needs.
CROP_REACH = 1.0
#: Frames between searches of the whole frame (a third of a second at 30 fps).
WHOLE_EVERY = 10

Found = tuple[list[np.ndarray], list[Mapping[str, float] | None]]


def _box(landmarks: np.ndarray) -> Box:
    (x0, y0), (x1, y1) = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


class FaceCrops:
    """Finds the faces of the last search again, each in its crop, on instances of its own.

    Thread-safe: lanes (`pipeline/analysis_lanes.py`) may call `find` at once; every call takes
    idle instances (made when none is idle) and the faces after the first run on pool threads
    (`cer-face_N`) beside the caller.
    """

    def __init__(
        self,
        task_file: str | os.PathLike[str] | None,
        whole_every: int = WHOLE_EVERY,
        reach: float = CROP_REACH,
    ) -> None:
        if whole_every < 1:
            raise ValueError(f"whole_every must be at least 1, got {whole_every}")
        self.task_file = task_file
        self.whole_every = int(whole_every)
        self.reach = float(reach)
        self._idle: queue.SimpleQueue[FaceMeshDetector] = queue.SimpleQueue()
        self._made: list[FaceMeshDetector] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._boxes: list[Box] = []
        self._boxes_frame = -1
        self._whole_frame: int | None = None
        self.crop_frames = 0  # frames found in crops
        self.whole_frames = 0  # frames the caller searched whole

    def needs_whole(self, frame_id: int) -> bool:
        """Whether frame `frame_id` must be searched whole: no face known, or `whole_every`
        frames since the last whole search. A search due by that count is claimed here, so
        the frames found beside it (other lanes) use their crops instead of searching whole
        too while it runs."""
        with self._lock:
            last = self._whole_frame
            # (a frame just before a claimed search, found late, is not due: ids far back are)
            due = last is None or not -self.whole_every < frame_id - last < self.whole_every
            if due and self._boxes and (last is None or frame_id > last):
                self._whole_frame = frame_id
            return due or not self._boxes

    def remember(self, frame_id: int, landmarks: Sequence[np.ndarray], whole: bool) -> None:
        """The faces kept for frame `frame_id` (the next frames look for them there); `whole`
        when the whole frame was searched. A frame older than the remembered one is ignored
        (a lane that finished late), unless it was a whole search that nothing newer was."""
        with self._lock:
            if whole:
                self.whole_frames += 1
                if self._whole_frame is None or frame_id >= self._whole_frame:
                    self._whole_frame = frame_id
            else:
                self.crop_frames += 1
            if frame_id >= self._boxes_frame:
                self._boxes = [_box(lm) for lm in landmarks]
                self._boxes_frame = frame_id

    def forget(self) -> None:
        """No face known: the next frame is searched whole (the source changed)."""
        with self._lock:
            self._boxes, self._boxes_frame, self._whole_frame = [], -1, None

    def find(self, image: np.ndarray) -> Found | None:
        """Landmarks (image pixels) and blendshapes of every remembered face, found in its crop
        of the RGB `image`; None when a crop lost its face or two found the same one (search
        the whole frame then)."""
        with self._lock:
            boxes = list(self._boxes)
            if not boxes:
                return None
            if len(boxes) > 1 and self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="cer-face")
            pool = self._pool
        later: list[Future[tuple[np.ndarray, Mapping[str, float] | None] | None]] = []
        if pool is not None:
            later = [pool.submit(self._one, image, box) for box in boxes[1:]]
        results = [self._one(image, boxes[0])] + [f.result() for f in later]
        if any(r is None for r in results):
            return None
        found = [r for r in results if r is not None]
        faces = [_box(lm) for lm, _ in found]
        for i, a in enumerate(faces):
            if any(iou(np.asarray(a), np.asarray(b)) > 0.5 for b in faces[i + 1 :]):
                return None  # two crops on one face (faces crossing): the whole frame sorts it
        return [lm for lm, _ in found], [shapes for _, shapes in found]

    def _one(
        self, image: np.ndarray, box: Box
    ) -> tuple[np.ndarray, Mapping[str, float] | None] | None:
        h, w = image.shape[:2]
        x, y, bw, bh = box
        cx, cy = x + bw / 2.0, y + bh / 2.0
        r = max(bw, bh, 8.0) * self.reach
        x0, y0 = int(max(0.0, cx - r)), int(max(0.0, cy - r))
        x1, y1 = int(min(float(w), cx + r)), int(min(float(h), cy + r))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        detector = self._take()
        try:
            faces = detector.detect(crop)
            shapes = detector.last_blendshapes
        finally:
            self._idle.put(detector)
        if not faces:
            return None
        landmarks = faces[0]
        landmarks[:, 0] += x0
        landmarks[:, 1] += y0
        return landmarks, (shapes[0] if shapes else None)

    def _take(self) -> FaceMeshDetector:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        detector = FaceMeshDetector(max_faces=1, task_file=self.task_file)  # video mode
        with self._lock:
            self._made.append(detector)
        return detector

    def warm_up(self, instances: int) -> None:
        """Make `instances` MediaPipe instances now (about 0.5 s each), not on a live frame."""
        made = [self._take() for _ in range(max(0, instances - len(self._made)))]
        for detector in made:
            self._idle.put(detector)

    def close(self) -> None:
        """Stop the pool threads, release every instance and forget the faces (the next
        `find` starts again). Not while a `find` runs. Safe to call twice."""
        self.forget()
        with self._lock:
            pool, self._pool = self._pool, None
            made, self._made = self._made, []
        if pool is not None:
            pool.shutdown(wait=True)
        for detector in made:
            detector.close()
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
