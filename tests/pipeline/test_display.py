"""The display thread shows frames at the pace they were captured, replaces the oldest when
the display itself is slow, and never stalls on a capture time it cannot use."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
from thread_check import no_thread_left  # noqa: F401 (autouse: no thread left after a test)

from cer_desktop.contracts import Annotation, Frame
from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.display import DisplayThread

IMAGE = np.zeros((4, 4, 3), np.uint8)


def annotation(frame_id: int, t_capture: float) -> Annotation:
    frame = Frame(frame_id, t_capture, datetime.now(UTC), IMAGE)
    return Annotation(frame=frame, faces=(), label_set=RAF_BASIC)


class Shown:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.at: list[tuple[int, float]] = []
        self.done = threading.Event()

    def __call__(self, a: Annotation, painted: np.ndarray) -> None:
        time.sleep(self.delay_s)
        self.at.append((a.frame.frame_id, time.monotonic()))
        self.done.set()


def warm(display: DisplayThread, shown: Shown, age_s: float, n: int = 20) -> None:
    """Frames that each reach the display `age_s` after capture, 33 ms apart."""
    for k in range(n):
        display.put(annotation(-1 - k, time.monotonic() - age_s), IMAGE)
        time.sleep(1 / 30)


def test_two_frames_arriving_together_are_shown_a_frame_apart():
    # given a display whose frames usually arrive 40 ms after capture
    shown = Shown()
    display = DisplayThread(shown)
    display.start()
    try:
        warm(display, shown, 0.040)
        assert abs(display.hold_s - 0.040) < 0.01
        # when frames 1 and 2 (captured 33 ms apart) arrive together, frame 1 at its time
        t = time.monotonic()
        display.put(annotation(1, t - 0.040), IMAGE)
        display.put(annotation(2, t - 0.007), IMAGE)
        time.sleep(0.15)
    finally:
        display.stop()
    at = dict(shown.at)
    # then both are shown, 33 ms apart as they were captured (not 0 ms apart as they came)
    assert 1 in at and 2 in at
    assert at[1] < at[2]
    assert 0.028 < at[2] - t < 0.1  # never before its capture time + the hold


def test_a_slow_display_gets_the_newest_frames_and_the_oldest_are_counted_replaced():
    # given a display callback that takes 50 ms a frame
    replaced = []
    shown = Shown(delay_s=0.05)
    display = DisplayThread(shown, on_replaced=lambda: replaced.append(1))
    display.start()
    try:
        # when 10 frames come at once
        now = time.monotonic()
        for k in range(10):
            display.put(annotation(k, now), IMAGE)
        time.sleep(0.3)
    finally:
        display.stop()
    ids = [i for i, _ in shown.at]
    # then the newest frame is shown, and every frame not shown was counted as replaced
    assert ids[-1] == 9
    assert len(ids) + len(replaced) == 10
    assert len(replaced) >= 7


def test_frames_waiting_for_their_time_are_all_shown():
    # given frames that reach the display 90 ms after capture, 33 ms apart (three wait at once)
    replaced = []
    shown = Shown()
    display = DisplayThread(shown, on_replaced=lambda: replaced.append(1))
    display.start()
    try:
        warm(display, shown, 0.090, n=30)
        time.sleep(0.15)
    finally:
        display.stop()
    # then every one is shown, in order, none replaced
    assert display.hold_s > 0.08
    assert [i for i, _ in shown.at] == [-1 - k for k in range(30)]
    assert replaced == []


def test_an_unusable_capture_time_is_shown_at_once():
    # given frames whose capture time is far in the future or the past (not a live clock)
    shown = Shown()
    display = DisplayThread(shown)
    display.start()
    try:
        warm(display, shown, 0.05, n=5)  # a hold of 50 ms
        late = []
        for frame_id, t_capture in ((1, time.monotonic() + 1000.0), (2, 0.0)):
            shown.done.clear()
            t = time.monotonic()
            display.put(annotation(frame_id, t_capture), IMAGE)
            assert shown.done.wait(1.0)
            late.append(shown.at[-1][1] - t)
    finally:
        display.stop()
    # then each is shown at once, not held (and never waits for its odd capture time)
    assert [i for i, _ in shown.at][-2:] == [1, 2]
    assert max(late) < 0.04, late


def test_stop_ends_a_thread_holding_a_frame():
    # given a display holding a frame for 100 ms
    shown = Shown()
    display = DisplayThread(shown, max_hold_s=0.1)
    display.start()
    warm(display, shown, 0.1, n=5)
    display.put(annotation(1, time.monotonic()), IMAGE)
    # when it is stopped at once
    t = time.monotonic()
    display.stop()
    # then it ends without showing the held frame
    assert time.monotonic() - t < 0.05
    assert not display.thread.is_alive()
    assert 1 not in dict(shown.at)
