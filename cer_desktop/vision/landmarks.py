"""MediaPipe face mesh (478 landmarks in image pixels) and the landmark indices the app uses.

Sides follow MediaPipe's naming: "left"/"right" are the *subject's* left and right, so in an
unmirrored frontal image the subject's right eye (`RIGHT_EYE`, iris centre 468) is on the
image's left.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from cer_desktop.vision.mesh import LEFT_EYE, RIGHT_EYE
from cer_desktop.vision.mp_import import import_mediapipe
from cer_desktop.vision.task_packets import TaskPackets


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right eye, left eye) centres as the mean of each eye contour, x/y only.

    The contour mean, not the iris, so that gaze does not move the alignment.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return pts[list(RIGHT_EYE)].mean(axis=0), pts[list(LEFT_EYE)].mean(axis=0)


class LandmarkError(RuntimeError):
    """MediaPipe could not be loaded or a landmarker model file is unusable."""


class FaceMeshDetector:
    """Finds up to `max_faces` faces and returns 478 landmarks per face in image pixels.

    Wraps `mp.solutions.face_mesh.FaceMesh` (models bundled with mediapipe 0.10.21). With
    `static_images=False` MediaPipe tracks faces between calls (video mode, fast); feed frames
    of one stream in order. Not thread-safe: use one detector per thread.

    With `task_file` (MediaPipe's `face_landmarker.task`: `scripts/fetch-face-landmarker.sh`,
    found by `landmarker_file.find_landmarker`), MediaPipe's Tasks `FaceLandmarker` is used
    instead (IMAGE or VIDEO running mode) and `last_blendshapes` holds its 52 blendshape
    scores per face; they are read from its output packets (`task_packets.py`: a few ms
    of Python less per frame) unless `fast_results=False` or this mediapipe lacks the way.
    """

    def __init__(
        self,
        max_faces: int = 1,
        static_images: bool = False,
        refine: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        task_file: str | os.PathLike[str] | None = None,
        fast_results: bool = True,
    ) -> None:
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        self.max_faces = int(max_faces)
        self.static_images = bool(static_images)
        self.refine = bool(refine)
        self.last_blendshapes: list[Mapping[str, float]] | None = None
        self._task_timestamp_ms = 0
        try:
            mp = import_mediapipe()
        except ImportError as exc:  # pragma: no cover - mediapipe is a hard dependency
            raise LandmarkError(f"mediapipe is not installed: {exc}") from exc
        self._mp: Any = mp
        self._tasks: Any = None
        self._mesh: Any = None
        self._packets: TaskPackets | None = None
        if task_file is not None:
            self._tasks = self._open_task(
                mp, task_file, min_detection_confidence, min_tracking_confidence
            )
            self._packets = TaskPackets.create(self._tasks) if fast_results else None
        else:
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.static_images,
                max_num_faces=self.max_faces,
                refine_landmarks=self.refine,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )

    def _open_task(self, mp: Any, task_file: str | os.PathLike[str], det: float, trk: float) -> Any:
        path = os.fspath(task_file)
        if not os.path.isfile(path):
            raise LandmarkError(f"face landmarker task file not found: {path}")
        vision = mp.tasks.vision
        mode = vision.RunningMode.IMAGE if self.static_images else vision.RunningMode.VIDEO
        options = vision.FaceLandmarkerOptions(
            base_options=mp.tasks.BaseOptions(model_asset_path=path),
            running_mode=mode,
            num_faces=self.max_faces,
            min_face_detection_confidence=det,
            min_tracking_confidence=trk,
            output_face_blendshapes=True,
        )
        try:
            return vision.FaceLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError for bad files
            raise LandmarkError(f"cannot load face landmarker task file {path}: {exc}") from exc

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Landmarks of the faces in an RGB uint8 (H, W, 3) image.

        Returns one (478, 3) float32 array per face: x, y in image pixels, z in pixels of
        the same scale as x (MediaPipe's relative depth times the image width).
        """
        if self._mesh is None and self._tasks is None:
            raise LandmarkError("FaceMeshDetector is closed")
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
        h, w = rgb.shape[:2]
        scale = np.array([w, h, w], dtype=np.float32)
        if self._tasks is not None:
            return self._detect_task(rgb, scale)
        result = self._mesh.process(rgb)
        self.last_blendshapes = None
        faces = result.multi_face_landmarks or []
        return [
            np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32) * scale
            for face in faces
        ]

    def _detect_task(self, rgb: np.ndarray, scale: np.ndarray) -> list[np.ndarray]:
        mp = self._mp
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        if not self.static_images:
            self._task_timestamp_ms += 33  # VIDEO mode needs strictly increasing timestamps
        if self._packets is not None:
            stamp = None if self.static_images else self._task_timestamp_ms
            found, shapes = self._packets.detect(image, stamp)
            self.last_blendshapes = shapes or None
            return [lm * scale for lm in found]
        if self.static_images:
            result = self._tasks.detect(image)
        else:
            result = self._tasks.detect_for_video(image, self._task_timestamp_ms)
        faces = [
            np.array([(p.x, p.y, p.z) for p in face], dtype=np.float32) * scale
            for face in result.face_landmarks
        ]
        self.last_blendshapes = [
            {c.category_name: float(c.score) for c in shapes}
            for shapes in (result.face_blendshapes or [])
        ] or None
        return faces

    def close(self) -> None:
        """Release MediaPipe's graph. Safe to call twice."""
        for res in (self._mesh, self._tasks):
            if res is not None:
                res.close()
        self._mesh = None
        self._tasks = None
        self._packets = None

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
