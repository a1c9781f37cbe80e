"""The recorder as a sink of the real live pipeline: every painted frame recorded, as painted."""

from __future__ import annotations

import numpy as np

from cer_desktop.capture.sources import ArraySource
from cer_desktop.contracts import Face, Frame
from cer_desktop.labels import RAF_BASIC
from cer_desktop.pipeline.pipeline import Pipeline
from cer_desktop.recording.csvlog import read_rows
from cer_desktop.recording.recorder import SessionRecorder
from cer_desktop.recording.session_folder import read_manifest
from cer_desktop.recording.video import count_frames, frame_times
from cer_desktop.testing.fakes import FixedRecognizer

N = 60


class OneFace:
    """A stand-in analyzer: one face in the middle of every frame."""

    def process(self, frame: Frame) -> list[Face]:
        h, w = frame.image.shape[:2]
        return [
            Face(
                track_id=7,
                frame_id=frame.frame_id,
                box=(w // 4, h // 4, w // 2, h // 2),
                landmarks=np.zeros((478, 3), np.float32),
                aligned=np.zeros((8, 8, 3), np.uint8),
            )
        ]


def test_live_pipeline_records_every_captured_frame(tmp_path):
    # given a live 60 fps source of 60 frames and a recorder sink
    images = [np.full((120, 160, 3), 10 + 3 * i, np.uint8) for i in range(N)]
    source = ArraySource(images, fps=60, live=True, description="arrays")
    rec = SessionRecorder(tmp_path / "s", record_raw=True, fps=60)
    pipeline = Pipeline(source, OneFace(), FixedRecognizer(top="Happiness"), RAF_BASIC, sinks=[rec])
    # when the pipeline runs to the end of the source
    pipeline.start()
    pipeline.join(timeout=30)
    pipeline.stop()
    rec.close()
    stats = pipeline.stats
    # then every captured frame is in both videos and the CSV
    assert stats.frames_captured == N
    assert rec.frames_dropped == 0 and stats.dropped_total == 0
    assert rec.frames_written == N
    assert count_frames(tmp_path / "s" / "annotated.mp4") == N
    assert count_frames(tmp_path / "s" / "raw.mp4") == N
    rows = list(read_rows(tmp_path / "s"))
    assert len(rows) == N and {r["label"] for r in rows} == {"Happiness"}
    assert read_manifest(tmp_path / "s")["source"] == "arrays"
    # and the video's time stamps are the capture times (about 1/60 s apart, increasing)
    times = frame_times(tmp_path / "s" / "annotated.mp4")
    csv_t = [float(r["t"]) for r in rows]
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    worst = max(abs(a - b) for a, b in zip(times, csv_t, strict=True))
    assert worst < 0.002, f"video and CSV times differ by {worst:.4f} s"
