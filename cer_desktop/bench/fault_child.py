"""A recording process for `cer bench faults` to kill: the live session recording a face.

`python -m cer_desktop.bench.fault_child FOLDER PROGRESS SECONDS [WIDTH HEIGHT]` runs the
window's composition (`LiveSession`: MediaPipe landmarks, the instant recognizer, the
painter) on a moving photo of a face paced at 30 fps, its `SessionRecording` writing the
annotated video, the raw video and the CSV into FOLDER. After every frame it writes the recorder's count of submitted frames
into PROGRESS (8 bytes), so the killer knows what was handed over when it struck. After
SECONDS it prints "STOPPING", stops and closes the recording, prints "CLOSED" and waits to
be killed (at most a minute).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from cer_desktop.contracts import Annotation


def face_frames(width: int, height: int, n: int = 30) -> list[np.ndarray]:
    """`n` frames of skimage's astronaut photo (a real face) drifting sideways."""
    import cv2
    from skimage import data

    photo = cv2.resize(np.ascontiguousarray(data.astronaut()), (height, height))
    frames = []
    for i in range(n):
        canvas = np.full((height, width, 3), 60, np.uint8)
        x = (width - height) // 2 + int(round(6 * np.sin(2 * np.pi * i / n)))
        x = max(0, min(width - height, x))
        canvas[:, x : x + height] = photo
        canvas.flags.writeable = False
        frames.append(canvas)
    return frames


class ProgressSink:
    """Writes the recorder's submitted-frame count after every frame (one pwrite); the
    session hands frames to its recording first, so the count includes this frame."""

    name = "progress"

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.recorder: object = None  # the recording's, once it runs

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        n = int(getattr(self.recorder, "frames_submitted", 0))
        os.pwrite(self._fd, n.to_bytes(8, "little"), 0)
        return True

    def close(self) -> None:
        os.close(self._fd)


def read_progress(path: Path) -> int:
    try:
        return int.from_bytes(path.read_bytes()[:8], "little")
    except OSError:
        return 0


def main(argv: list[str]) -> int:
    from cer_desktop.bench.live_session import live_session, record_into
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.instant import InstantRecognizer
    from cer_desktop.testing.fakes import ListSource

    folder, progress, seconds = Path(argv[0]), Path(argv[1]), float(argv[2])
    width, height = (int(argv[3]), int(argv[4])) if len(argv) >= 5 else (320, 240)
    source = ListSource(face_frames(width, height), fps=30.0, live=True, loop=True)
    probe = ProgressSink(progress)
    label_set = RAF_COMPOUND.with_neutral()
    session = live_session(source, InstantRecognizer(), label_set, max_faces=1, sinks=[probe])
    session.start("face")
    probe.recorder = record_into(session, folder, record_raw=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and session.running:
        time.sleep(0.02)
    print("STOPPING", flush=True)
    session.shutdown()  # stops the run and finishes the recording
    print("CLOSED", flush=True)
    time.sleep(60)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))
