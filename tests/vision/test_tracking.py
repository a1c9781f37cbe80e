"""Track ids: stable under small motion, never swapped between faces, never reused."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cer_desktop.contracts import Frame
from cer_desktop.vision.analyzer import FaceAnalyzer
from cer_desktop.vision.tracking import FaceTracker, iou


def _frame(i: int, image: np.ndarray) -> Frame:
    return Frame(frame_id=i, t_capture=i / 30, wall_time=datetime.now(UTC), image=image)


def _shift(image: np.ndarray, dx: int, dy: int, size: tuple[int, int]) -> np.ndarray:
    """Paste `image` into a grey canvas of `size` (w, h) at offset (dx, dy)."""
    w, h = size
    canvas = np.full((h, w, 3), 120, np.uint8)
    ih, iw = image.shape[:2]
    canvas[dy : dy + ih, dx : dx + iw] = image
    return canvas


@pytest.fixture(scope="module")
def face_patch(astronaut) -> np.ndarray:
    """The astronaut's head and shoulders (about 260 px square)."""
    return np.ascontiguousarray(astronaut[10:270, 100:360])


@pytest.fixture(scope="module")
def analyzer():
    a = FaceAnalyzer(max_faces=4, crop_size=112)
    yield a
    a.close()


def test_iou_of_boxes():
    assert iou(np.array([0, 0, 10, 10.0]), np.array([0, 0, 10, 10.0])) == pytest.approx(1.0)
    assert iou(np.array([0, 0, 10, 10.0]), np.array([5, 0, 10, 10.0])) == pytest.approx(1 / 3)
    assert iou(np.array([0, 0, 10, 10.0]), np.array([20, 20, 5, 5.0])) == 0.0


def test_ids_survive_small_motion_of_boxes():
    tracker = FaceTracker()
    ids = {tuple(tracker.update([(100 + 4 * i, 50 + 2 * i, 80, 90)])) for i in range(30)}
    assert ids == {(1,)}, f"one face moving a few pixels per frame got ids {ids}"


def test_two_faces_passing_close_keep_their_ids():
    # Given two faces side by side that move toward each other and back
    tracker = FaceTracker()
    first = tracker.update([(100, 100, 80, 80), (300, 100, 80, 80)])
    for step in list(range(0, 50, 5)) + list(range(50, 0, -5)):
        ids = tracker.update([(100 + step, 100, 80, 80), (300 - step, 100, 80, 80)])
        # Then the left one keeps the left id, the right one the right id
        assert ids == first, f"ids swapped at step {step}: {ids} vs {first}"
    # And the order the detector reports them in does not matter
    assert tracker.update([(300, 100, 80, 80), (100, 100, 80, 80)]) == first[::-1]


def test_a_face_far_away_gets_a_new_id_not_a_jump():
    tracker = FaceTracker()
    (a,) = tracker.update([(10, 10, 50, 50)])
    # When the only face vanishes and another appears far away in the next frame
    (b,) = tracker.update([(500, 300, 50, 50)])
    assert b != a, "a distant face must not inherit the id of the face that left"


def test_lost_tracks_expire_and_ids_are_never_reused():
    tracker = FaceTracker(max_age=2)
    (a,) = tracker.update([(10, 10, 50, 50)])
    # A short gap keeps the id
    tracker.update([])
    assert tracker.update([(12, 10, 50, 50)]) == [a]
    # A long gap forgets it, and the face comes back with a fresh id
    for _ in range(3):
        tracker.update([])
    assert tracker.active_ids == []
    (b,) = tracker.update([(12, 10, 50, 50)])
    assert b > a
    tracker.reset()
    (c,) = tracker.update([(12, 10, 50, 50)])
    assert c > b, "reset must not recycle ids"


def test_analyzer_ids_survive_the_astronaut_moving_a_few_pixels(analyzer, face_patch):
    # Given the astronaut drifting 3 px right and 2 px down per frame
    analyzer.reset()
    seen = []
    for i in range(12):
        image = _shift(face_patch, 20 + 3 * i, 10 + 2 * i, (400, 320))
        faces = analyzer.process(_frame(i, image))
        assert len(faces) == 1, f"frame {i}: expected one face, got {len(faces)}"
        seen.append(faces[0].track_id)
    # Then it keeps one id all along
    assert len(set(seen)) == 1, f"the id changed while the face moved: {seen}"


def test_analyzer_ids_do_not_jump_between_two_moving_faces(analyzer, face_patch):
    # Given two astronauts side by side, moving in opposite vertical directions
    analyzer.reset()
    by_side: dict[str, set[int]] = {"left": set(), "right": set()}
    for i in range(10):
        canvas = np.full((360, 640, 3), 120, np.uint8)
        canvas[20 + 3 * i : 280 + 3 * i, 20 + 2 * i : 280 + 2 * i] = face_patch
        canvas[80 - 3 * i : 340 - 3 * i, 360 - 2 * i : 620 - 2 * i] = face_patch
        faces = analyzer.process(_frame(i, canvas))
        assert len(faces) == 2, f"frame {i}: expected two faces, got {len(faces)}"
        for face in faces:
            side = "left" if face.box[0] + face.box[2] / 2 < 320 else "right"
            by_side[side].add(face.track_id)
    # Then each face keeps its own single id and the two ids differ
    assert len(by_side["left"]) == 1 and len(by_side["right"]) == 1, f"ids per face: {by_side}"
    assert by_side["left"] != by_side["right"]
