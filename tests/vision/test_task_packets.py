"""The Tasks landmarker's results read from its packets equal what its public methods give."""

from __future__ import annotations

import numpy as np
import pytest

from cer_desktop.bench.vision import _frames
from cer_desktop.vision.landmarks import FaceMeshDetector


@pytest.mark.parametrize("static_images", [True, False], ids=["image-mode", "video-mode"])
def test_packets_give_the_public_results_number_for_number(face_landmarker_task, static_images):
    # Given two detectors on the same task file: one reading packets, one the public way
    frames = _frames(1 if static_images else 2, 8)  # one face of 300 px for the detector alone
    kw = {"max_faces": 4, "static_images": static_images, "task_file": face_landmarker_task}
    with FaceMeshDetector(**kw) as fast, FaceMeshDetector(**kw, fast_results=False) as public:
        assert fast._packets is not None, "this mediapipe lacks what task_packets.py reads"
        assert public._packets is None
        for rgb in frames:
            # When both see the same frames in the same order
            a, b = fast.detect(rgb), public.detect(rgb)
            # Then the landmarks and the 52 blendshapes of every face are the same numbers
            assert len(a) == len(b) >= 1
            for la, lb in zip(a, b, strict=True):
                assert la.shape == (478, 3) and la.dtype == np.float32
                np.testing.assert_array_equal(la, lb)
            assert fast.last_blendshapes == public.last_blendshapes
            assert fast.last_blendshapes is not None
            assert all(len(s) == 52 for s in fast.last_blendshapes)


def test_a_blank_frame_has_no_faces_and_no_blendshapes(face_landmarker_task):
    with FaceMeshDetector(task_file=face_landmarker_task) as fast:
        assert fast.detect(np.full((240, 320, 3), 90, np.uint8)) == []
        assert fast.last_blendshapes is None
