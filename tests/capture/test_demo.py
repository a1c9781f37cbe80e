"""The demo source: a face MediaPipe finds, whose expression really changes along the script."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cer_desktop.capture.demo import LANDMARKS_RESOURCE, DemoSource, DemoStep, _load_landmarks
from cer_desktop.vision import expression_actions as ea
from cer_desktop.vision.expression_warp import EXPRESSIONS, UnknownExpression


@pytest.fixture(scope="module")
def demo() -> DemoSource:
    return DemoSource()


def detect(mesh, image):
    result = mesh.process(image)
    if not result.multi_face_landmarks:
        return None
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])


def face_measures(lm: np.ndarray) -> dict[str, float]:
    """Head-pose-free measures in inter-ocular units, in the face's own frame."""
    right, left = lm[468], lm[473]
    iod = float(np.hypot(*(left - right)))
    u = (left - right) / iod
    v = np.array([-u[1], u[0]])
    origin = (left + right) / 2

    def y(idx) -> float:
        return float(((lm[list(idx)] - origin) @ v).mean() / iod)

    return {
        "corner_y": y(ea.MOUTH_CORNERS),
        "brow_y": y(ea.BROWS),
        "opening": float(np.hypot(*(lm[14] - lm[13])) / iod),
    }


def hold_time(demo: DemoSource, expression: str) -> float:
    for start, end, name in demo.timeline():
        if name == expression:
            return (start + end) / 2
    raise AssertionError(f"{expression} is not in the demo script")


def test_demo_frames_show_a_face_across_the_script(mesh, demo):
    # Given the default demo, when frames are taken at rest and in the middle of each hold
    times = [0.2] + [(s + e) / 2 for s, e, _ in demo.timeline()]
    missing = []
    for t in times:
        image = demo.render(t)
        assert image.shape == (480, 640, 3) and image.dtype == np.uint8
        if detect(mesh, image) is None:
            missing.append((round(t, 2), demo.expression_at(t)[0]))
    # Then MediaPipe finds the face in every one of them
    assert not missing, f"no face found at {missing}"


def test_demo_expressions_change_as_measured_by_landmarks(mesh, demo):
    # Given neutral, happy, surprise and anger moments of the script (with head motion)
    measures = {}
    for name in ("happy", "surprise", "anger"):
        measures[name] = face_measures(detect(mesh, demo.render(hold_time(demo, name))))
    measures["neutral"] = face_measures(detect(mesh, demo.render(0.2)))
    neutral = measures["neutral"]
    # Then happy lifts the mouth corners, surprise raises the brows and opens the mouth,
    # anger lowers the brows (differences in inter-ocular units)
    assert measures["happy"]["corner_y"] < neutral["corner_y"] - 0.04, measures
    assert measures["surprise"]["brow_y"] < neutral["brow_y"] - 0.06, measures
    assert measures["surprise"]["opening"] > neutral["opening"] + 0.1, measures
    assert measures["anger"]["brow_y"] > neutral["brow_y"] + 0.04, measures


def test_script_ramps_smoothly_between_neutral_and_each_expression(demo):
    # Given the default script
    assert [s.expression for s in demo.script][:3] == ["happy", "surprise", "anger"]
    assert all(s.expression in EXPRESSIONS for s in demo.script)
    # When sampled finely, then it opens neutral, intensity moves in small steps and every
    # hold reaches 1
    ts = np.arange(0.0, 2 * demo.duration, 1 / 30)  # across the wrap-around too
    intensity = np.array([demo.expression_at(t)[1] for t in ts])
    assert np.abs(np.diff(intensity)).max() < 0.2, "intensity jumps between frames"
    assert demo.expression_at(0.0) == ("neutral", 0.0)
    assert all(demo.expression_at(t)[0] == "neutral" for t in np.arange(0, demo.lead_in, 0.1))
    for start, end, name in demo.timeline():
        assert demo.expression_at((start + end) / 2) == (name, 1.0)


def test_reading_the_demo_is_live_and_reports_what_it_shows():
    # Given a short, non-looping script
    source = DemoSource(
        script=[DemoStep("happy", hold=0.2)], ramp=0.05, rest=0.05, lead_in=0.0, loop=False
    )
    before = set(threading.enumerate())
    # When it is read to the end
    with source:
        shown = []
        for _ in range(200):
            frame = source.read()
            if frame is None:
                break
            shown.append(source.current_expression)
    # Then frames were paced at ~30 fps (a 0.35 s script gives about 10 frames), the
    # current expression went neutral -> happy, and no thread is left behind
    assert source.is_live and source.fps == 30.0
    # (at least 3: a loaded machine reads fewer; a live source skips ahead, never lags)
    assert 3 <= len(shown) <= 20, f"{len(shown)} frames for a 0.35 s script at 30 fps"
    assert "happy" in shown and shown[0] == "neutral", shown
    assert set(threading.enumerate()) <= before, "the pre-render thread was not joined"


def test_bad_demo_arguments_are_named_errors():
    with pytest.raises(UnknownExpression, match="smug"):
        DemoSource(script=[DemoStep("smug")])
    with pytest.raises(ValueError, match="at least 64x64"):
        DemoSource(width=10, height=10)


def test_shipped_demo_landmarks_match_mediapipe():
    # The demo ships the astronaut's landmarks so it needs no face detection at start-up;
    # they must be what MediaPipe finds on the photo.
    from cer_desktop.vision.expression_warp import astronaut_landmarks

    shipped = _load_landmarks()
    assert shipped.shape == (478, 3), LANDMARKS_RESOURCE
    err = np.abs(shipped[:, :2] - np.asarray(astronaut_landmarks())[:, :2]).max()
    assert err < 1.0, f"shipped landmarks are {err:.2f} px off"
