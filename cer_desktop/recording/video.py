"""Crash-safe H.264 video files: fragmented MP4 writing, frame counting and remuxing.

A plain MP4 writes its index (moov) at the end, so a killed process leaves an unreadable
file. A fragmented MP4 (`empty_moov`) with packets flushed as they are muxed stays playable up
to its last complete fragment (docs/architecture.md). That was measured fragmenting at key
frames; we fragment at every frame (`frag_every_frame`): killed after 100 frames, that file played 99 frames (the mov
muxer holds one packet back to learn its duration) against 90 with `frag_keyframe`, for about
0.3 kB of box overhead per frame. Key frames still come once a second of capture time, so a
player can seek and a damaged tail costs at most a second.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)

# Capture times are monotonic seconds; a millisecond time base keeps variable frame rate exact
# enough for players and editors (90 kHz would also do; ms reads naturally in tools).
TIME_BASE = Fraction(1, 1000)
FRAGMENTED_MOVFLAGS = "frag_every_frame+empty_moov+default_base_moof"


class VideoError(RuntimeError):
    """A video file that cannot be written or read."""


class VideoWriter:
    """Writes RGB frames with capture-time stamps to a fragmented H.264 MP4.

    `write(image, t)` takes RGB uint8 (H, W, 3) and `t` in seconds since the session start;
    time stamps are forced strictly increasing (two frames with the same capture time are one
    time-base tick apart). The size is fixed by the first frame; later frames of another size
    are scaled to it. Encoding runs on the calling thread (`threads=1`, `tune=zerolatency`:
    no look-ahead and no B-frames, so every frame leaves the encoder at once and the file on
    disk trails the session by at most one fragment).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 30.0,
        preset: str = "veryfast",
        crf: int = 23,
        keyframe_interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.preset = preset
        self.crf = crf
        self.keyframe_interval_s = keyframe_interval_s
        self.frames_written = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._size: tuple[int, int] | None = None  # (width, height), even
        self._last_pts = -1
        self._last_key_t: float | None = None
        self._closed = False

    @property
    def size(self) -> tuple[int, int] | None:
        return self._size

    def _open(self, width: int, height: int) -> None:
        # yuv420p needs even dimensions; odd sources are scaled by one pixel.
        width, height = max(2, width - width % 2), max(2, height - height % 2)
        container = av.open(
            str(self.path),
            mode="w",
            format="mp4",
            options={"movflags": FRAGMENTED_MOVFLAGS, "flush_packets": "1"},
        )
        try:
            stream = container.add_stream("libx264", rate=max(1, round(self.fps)))
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            cc = stream.codec_context
            cc.time_base = TIME_BASE
            cc.thread_count = 1
            gop = max(1, round(self.fps * self.keyframe_interval_s))
            cc.options = {
                "preset": self.preset,
                "tune": "zerolatency",
                "crf": str(self.crf),
                "g": str(gop),
                # A forced key frame must be an IDR frame, or no new fragment starts there.
                "forced-idr": "1",
            }
        except Exception:
            container.close()
            raise
        self._container, self._stream, self._size = container, stream, (width, height)

    def write(self, image: np.ndarray, t: float) -> None:
        """Encode one RGB frame shown at `t` seconds after the session start."""
        if self._closed:
            raise VideoError(f"{self.path.name} is closed")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise VideoError(f"expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if self._container is None:
            self._open(int(image.shape[1]), int(image.shape[0]))
        assert self._stream is not None and self._container is not None and self._size is not None
        pts = max(int(round(t / TIME_BASE)), self._last_pts + 1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        w, h = self._size
        if frame.width != w or frame.height != h:
            frame = frame.reformat(width=w, height=h)
        frame.pts = pts
        frame.time_base = TIME_BASE
        # Key frames by capture time, not frame count, so variable frame rates still get one
        # seek point per second.
        if self._last_key_t is None or t - self._last_key_t >= self.keyframe_interval_s:
            frame.pict_type = av.video.frame.PictureType.I
            self._last_key_t = t
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            return
        try:
            assert self._stream is not None
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def abort(self) -> None:
        """Close without raising (after a write failed): keeps what reached the disk."""
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - the disk may be full; the file stays as is
            log.debug("closing %s after a failure: %s", self.path, exc)


def count_frames(path: str | os.PathLike[str]) -> int:
    """Number of frames that decode from the video at `path` (a cut-off tail is tolerated).

    Raises `VideoError` when the file cannot be opened at all.
    """
    try:
        container = av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise VideoError(f"cannot open video {path}: {exc}") from exc
    n = 0
    with container:
        if not container.streams.video:
            raise VideoError(f"{path} has no video stream")
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                for _ in packet.decode():
                    n += 1
        except (av.FFmpegError, OSError) as exc:
            # The last fragment of a killed recording may be cut off; what decoded counts.
            log.debug("%s: stopped decoding after %d frames: %s", path, n, exc)
    return n


def frame_times(path: str | os.PathLike[str]) -> list[float]:
    """Presentation times (seconds) of the decodable frames of a video."""
    times: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                times.append(
                    float(frame.pts * frame.time_base)
                    if frame.pts is not None and frame.time_base is not None
                    else float("nan")
                )
        except (av.FFmpegError, OSError):
            pass
    return times


def remux(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    max_frames: int | None = None,
    *,
    decodable: int | None = None,
) -> int:
    """Copy the first `max_frames` decodable frames of `src` into a normal (indexed) MP4 `dst`.

    No re-encoding: packets are copied. Our writer makes no B-frames, so decode order equals
    display order and cutting after N packets keeps exactly the first N frames. Returns the
    number of frames copied. `decodable` is `count_frames(src)` when the caller knows it.
    """
    if decodable is None:
        decodable = count_frames(src)
    limit = decodable if max_frames is None else min(decodable, max_frames)
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), mode="w", format="mp4") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        try:
            for packet in inp.demux(in_stream):
                if n >= limit:
                    break
                if packet.dts is None or packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                packet.stream = out_stream
                out.mux(packet)
                n += 1
        except (av.FFmpegError, OSError) as exc:
            log.debug("%s: stopped copying after %d packets: %s", src, n, exc)
    return n
