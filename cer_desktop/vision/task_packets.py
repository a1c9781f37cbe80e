"""The Tasks face landmarker's results read straight from its output packets.

`FaceLandmarker.detect`/`detect_for_video` turn each of the 478 landmarks of each face into a
Python object (`NormalizedLandmark.create_from_pb2`) and each blendshape into a `Category`,
which `FaceMeshDetector` then turns into arrays again: about 3 ms of Python per frame with
two faces, holding the GIL the other live threads need (measured on this project's 2-core
machine, mediapipe 0.10.21: 2.99 ms against 1.08 ms read here). This reads the landmark and
blendshape protobufs of the same packets directly.

It uses names that are private to mediapipe's Python API (`_process_image_data`,
`_process_video_data`, the stream-name constants of `face_landmarker.py`); `TaskPackets.create`
returns None when any is missing, and the detector then uses the public methods.
`tests/vision/test_task_packets.py` checks both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class TaskPackets:
    """Runs a Tasks `FaceLandmarker` on one image and reads its landmarks and blendshapes."""

    def __init__(self, landmarker: Any, fl: Any, creator: Any, getter: Any) -> None:
        self._landmarker = landmarker
        self._fl = fl
        self._creator = creator
        self._getter = getter

    @classmethod
    def create(cls, landmarker: Any) -> TaskPackets | None:
        """A reader for `landmarker`, or None when this mediapipe lacks what it uses."""
        try:
            from mediapipe.python import packet_creator, packet_getter
            from mediapipe.tasks.python.vision import face_landmarker as fl

            for name in (
                "_IMAGE_IN_STREAM_NAME",
                "_NORM_RECT_STREAM_NAME",
                "_NORM_LANDMARKS_STREAM_NAME",
                "_BLENDSHAPES_STREAM_NAME",
            ):
                getattr(fl, name)
            for method in (
                "_process_image_data",
                "_process_video_data",
                "convert_to_normalized_rect",
            ):
                getattr(landmarker, method)
        except (ImportError, AttributeError):
            return None
        return cls(landmarker, fl, packet_creator, packet_getter)

    def detect(
        self, image: Any, timestamp_ms: int | None
    ) -> tuple[list[np.ndarray], list[Mapping[str, float]]]:
        """Normalised (478, 3) landmarks per face and each face's blendshape scores, for
        `image` (a `mediapipe.Image`); `timestamp_ms` None in IMAGE mode."""
        fl, creator, lm = self._fl, self._creator, self._landmarker
        rect = lm.convert_to_normalized_rect(None, image, roi_allowed=False)
        image_packet = creator.create_image(image)
        rect_packet = creator.create_proto(rect.to_pb2())
        if timestamp_ms is None:
            inputs = {
                fl._IMAGE_IN_STREAM_NAME: image_packet,
                fl._NORM_RECT_STREAM_NAME: rect_packet,
            }
            packets = lm._process_image_data(inputs)
        else:
            us = timestamp_ms * 1000
            inputs = {
                fl._IMAGE_IN_STREAM_NAME: image_packet.at(us),
                fl._NORM_RECT_STREAM_NAME: rect_packet.at(us),
            }
            packets = lm._process_video_data(inputs)
        marks = packets[fl._NORM_LANDMARKS_STREAM_NAME]
        if marks.is_empty():
            return [], []
        faces = [
            np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
            for face in self._getter.get_proto_list(marks)
        ]
        shapes: list[Mapping[str, float]] = []
        blend = packets.get(fl._BLENDSHAPES_STREAM_NAME)
        if blend is not None and not blend.is_empty():
            shapes = [
                {c.label: float(c.score) for c in face.classification}
                for face in self._getter.get_proto_list(blend)
            ]
        return faces, shapes
