"""A video that crashes the decoder is refused with a message; the process lives on."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from cer_desktop.capture import probe
from cer_desktop.capture.base import SourceError
from cer_desktop.capture.files import VideoFileSource


def _clip(path, n: int = 5) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 10)
        for i in range(n):
            image = np.full((48, 64, 3), 20 * i, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_a_good_clip_probes_to_its_frame_count(tmp_path):
    _clip(tmp_path / "c.mp4")
    assert probe.probe_video(tmp_path / "c.mp4") == 5


def test_a_decoder_that_dies_on_a_file_is_a_source_error_not_a_crash(tmp_path, monkeypatch):
    # given a decoder that crashes with SIGSEGV on this file (as FFmpeg 8.0.1 did on a
    # bit-flipped MP4 in `cer bench faults`), stood in for by a child that kills itself so
    _clip(tmp_path / "c.mp4")
    monkeypatch.setattr(probe, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    # when the file is opened
    source = VideoFileSource(tmp_path / "c.mp4")
    with pytest.raises(SourceError, match=r"decoder crashed \(SIGSEGV\)"):
        source.open()
    # then this process is still here to say so, and without the probe the file opens
    plain = VideoFileSource(tmp_path / "c.mp4", probe=False)
    plain.open()
    assert plain.read() is not None
    plain.close()
