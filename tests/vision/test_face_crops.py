"""Known faces found again in crops around them, each on its own MediaPipe instance at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.bench.vision import _frames
from cer_desktop.contracts import Frame
from cer_desktop.session import factories
from cer_desktop.vision.analyzer import FaceAnalyzer
from cer_desktop.vision.face_crops import WHOLE_EVERY, FaceCrops
from cer_desktop.vision.landmarks import FaceMeshDetector

_GREY = 110  # the background of bench.vision's frames


def _frame(frame_id: int, image: np.ndarray) -> Frame:
    return Frame(frame_id, time.monotonic(), datetime.now(UTC), image)


def _without_right_face(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[:, 320:] = _GREY  # the second face of bench.vision's two-face frames is right of 320
    return out


def _analyzers(task: str) -> tuple[FaceAnalyzer, FaceAnalyzer]:
    whole = FaceAnalyzer(max_faces=2, task_file=task)
    return whole, FaceAnalyzer(max_faces=2, task_file=task, face_crops=True)


def test_faces_found_in_crops_are_the_faces_the_whole_frame_gives(face_landmarker_task):
    # Given two-face frames and two analyzers: one searching each frame whole, one in crops
    frames = [_frame(i, img) for i, img in enumerate(_frames(2, 2 * WHOLE_EVERY + 4))]
    whole, cropped = _analyzers(face_landmarker_task)
    with whole, cropped:
        # When both see the same frames
        a = [whole.process(f) for f in frames]
        b = [cropped.process(f) for f in frames]
        crops = cropped.face_crops
        assert crops is not None
        counts = (crops.crop_frames, crops.whole_frames)
    # Then the whole frame was searched at frames 0, 10 and 20 only, the rest in crops
    assert counts == (len(frames) - 3, 3)
    # And every frame has the same two tracked faces, boxes within a few pixels, each with
    # its aligned crop and its 52 blendshapes
    assert [[f.track_id for f in faces] for faces in b] == [[1, 2]] * len(frames)
    assert [[f.track_id for f in faces] for faces in a] == [[1, 2]] * len(frames)
    diffs = [
        np.abs(np.subtract(fa.box, fb.box)).max()
        for x, y in zip(a, b, strict=True)
        for fa, fb in zip(x, y, strict=True)
    ]
    assert np.median(diffs) <= 3 and max(diffs) <= 16, diffs
    for faces in b:
        for face in faces:
            assert face.aligned.shape == (224, 224, 3)
            assert face.blendshapes is not None and len(face.blendshapes) == 52


def test_the_faces_of_a_frame_are_found_at_once(face_landmarker_task, monkeypatch):
    # Given crop detectors that each wait, at a barrier, for the other face's detector to begin
    # (one after the other, the first would wait for itself and break the barrier)
    barrier = threading.Barrier(2, timeout=10)
    threads: set[str] = set()
    plain = FaceMeshDetector.detect

    def detect(self: FaceMeshDetector, rgb: np.ndarray) -> list[np.ndarray]:
        if self.max_faces == 1:  # a crop's instance (the whole frame's looks for 2 + spares)
            threads.add(threading.current_thread().name)
            barrier.wait()
        return plain(self, rgb)

    monkeypatch.setattr(FaceMeshDetector, "detect", detect)
    frames = [_frame(i, img) for i, img in enumerate(_frames(2, WHOLE_EVERY))]
    _, cropped = _analyzers(face_landmarker_task)
    # When the analyzer finds the frames' faces in crops
    with cropped:
        faces = [cropped.process(f) for f in frames]
    # Then every crop frame met at the barrier (both faces at once), on the caller's thread
    # and a pool thread, and no frame lost a face
    assert not barrier.broken
    assert threads == {"MainThread", "cer-face_0"}
    assert [len(f) for f in faces] == [2] * len(frames)


def test_a_face_that_leaves_is_gone_from_that_frame_on(face_landmarker_task):
    # Given frames where the second face leaves at frame 5 (between two whole searches)
    images = _frames(2, 12)
    frames = [_frame(i, img if i < 5 else _without_right_face(img)) for i, img in enumerate(images)]
    _, cropped = _analyzers(face_landmarker_task)
    with cropped:
        faces = [cropped.process(f) for f in frames]
        crops = cropped.face_crops
        assert crops is not None
        whole = crops.whole_frames
    # Then that very frame has one face (its crop lost the face: the frame was searched
    # whole), the face that stayed keeps its track id, and crops take over again after
    left = next(f.track_id for f in faces[0] if f.box[0] < 320)
    assert [[f.track_id for f in fs] for fs in faces] == [[1, 2]] * 5 + [[left]] * 7
    assert whole == 2  # frames 0 and 5 (the next is due 10 frames after 5)


def test_a_face_that_comes_in_is_found_by_the_next_whole_search(face_landmarker_task):
    # Given frames where a second face comes in at frame 3
    images = _frames(2, 14)
    frames = [
        _frame(i, img if i >= 3 else _without_right_face(img)) for i, img in enumerate(images)
    ]
    _, cropped = _analyzers(face_landmarker_task)
    with cropped:
        counts = [len(cropped.process(f)) for f in frames]
    # Then it is found at the next whole search (frame 10), not later
    assert counts == [1] * WHOLE_EVERY + [2] * (len(frames) - WHOLE_EVERY)


def test_closed_crops_start_again_and_leave_no_thread(face_landmarker_task):
    frames = [_frame(i, img) for i, img in enumerate(_frames(2, 4))]
    _, cropped = _analyzers(face_landmarker_task)
    cropped.warm_up()
    assert [len(cropped.process(f)) for f in frames] == [2] * 4
    cropped.reset()  # a new source: tracks and known faces forgotten, instances released
    assert [len(cropped.process(_frame(i, f.image))) for i, f in enumerate(frames)] == [2] * 4
    cropped.close()
    cropped.close()  # twice is fine
    # (the autouse fixture checks that the cer-face pool thread is gone)


@pytest.mark.parametrize(
    ("value", "cores", "expected"),
    [("0", 2, False), ("1", 1, True), ("", 1, False), ("", 2, True), ("yes", 2, True)],
)
def test_the_live_default_and_its_switch(monkeypatch, value, cores, expected):
    # Given $CER_FACE_CROPS and the machine's cores
    monkeypatch.setenv(factories.ENV_FACE_CROPS, value)
    monkeypatch.setattr(factories.os, "cpu_count", lambda: cores)
    # Then crops are on by default with 2 or more cores, and the switch overrides that
    assert factories.face_crops() is expected
    analyzer = factories.default_analyzer_factory(2)
    assert (analyzer.face_crops is not None) is expected


def test_a_due_whole_search_is_claimed_so_frames_beside_it_use_their_crops():
    # Given faces remembered from a whole search at frame 0 (no MediaPipe needed for this)
    crops = FaceCrops(None)
    face = np.array([[100.0, 100.0, 0.0], [200.0, 220.0, 0.0]])
    crops.remember(0, [face], whole=True)
    assert not crops.needs_whole(WHOLE_EVERY - 1)
    # When frame 10's whole search is due, it is claimed as it starts: the frames other lanes
    # find while it runs (11, 12, and 9 found late) use their crops
    assert crops.needs_whole(WHOLE_EVERY)
    assert not crops.needs_whole(WHOLE_EVERY + 1) and not crops.needs_whole(WHOLE_EVERY + 2)
    assert not crops.needs_whole(WHOLE_EVERY - 1)
    crops.remember(WHOLE_EVERY, [face], whole=True)
    # and the next is due 10 frames after it; ids far back (a new source) search whole
    assert crops.needs_whole(2 * WHOLE_EVERY)
    assert crops.needs_whole(0)
    # and with no face known every frame is searched whole
    crops.forget()
    assert crops.needs_whole(2 * WHOLE_EVERY + 1) and crops.needs_whole(2 * WHOLE_EVERY + 2)
