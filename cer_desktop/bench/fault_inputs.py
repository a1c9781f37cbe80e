"""`cer bench faults`, part 2: hundreds of corrupt inputs through `cer annotate`.

Kinds (`per_kind` files each, seeded): MP4s and JPEGs truncated at random offsets, MP4s and
JPEGs with random bits flipped, zero-length files, files with the wrong extension (a JPEG
named .mp4 and the reverse), headers that claim absurd dimensions (JPEG SOF and PNG IHDR,
with a valid CRC), and non-image data (random bytes, text, JSON). Two good inputs (a clip and a
photo of a face) sit beside them. All go to one `cer annotate` process, each file its own
input. Success: the process exits 1 without a traceback, every input is listed in its
summary, and the good inputs are annotated.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

KINDS = (
    "truncated_mp4",
    "bitflip_mp4",
    "truncated_jpeg",
    "bitflip_jpeg",
    "zero_length",
    "wrong_extension",
    "absurd_dimensions",
    "non_image",
)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = Fraction(1, fps)
        for image in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), "rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _flip(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 64))):
        i = int(rng.integers(0, len(b)))
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def _absurd_jpeg(jpeg: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        i = b.find(marker)
        if i >= 0:
            h, w = [(65535, 65535), (0, 0), (1, 65535), (65500, 3)][int(rng.integers(0, 4))]
            b[i + 5 : i + 7] = h.to_bytes(2, "big")
            b[i + 7 : i + 9] = w.to_bytes(2, "big")
            break
    return bytes(b)


def _absurd_png(png: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(png)
    w, h = [(2**31 - 1, 2**31 - 1), (0, 0), (1, 2**30), (100000, 100000)][int(rng.integers(0, 4))]
    b[16:20], b[20:24] = w.to_bytes(4, "big"), h.to_bytes(4, "big")
    b[29:33] = zlib.crc32(bytes(b[12:29])).to_bytes(4, "big")  # IHDR's CRC stays valid
    return bytes(b)


def make_inputs(root: Path, per_kind: int, seed: int) -> tuple[list[Path], list[Path], dict]:
    """(good inputs, bad inputs, kind of each bad input by path) under `root`."""
    import cv2

    from cer_desktop.bench.fault_child import face_frames

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = [np.array(f) for f in face_frames(320, 240, n=8)]
    clip, photo = root / "good_clip.mp4", root / "good_photo.jpg"
    write_clip(clip, frames)
    cv2.imwrite(str(photo), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    ok, png_buf = cv2.imencode(".png", cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    mp4, jpeg, png = clip.read_bytes(), photo.read_bytes(), png_buf.tobytes()
    bad: list[Path] = []
    kinds: dict[str, str] = {}
    for kind in KINDS:
        for i in range(per_kind):
            if kind == "truncated_mp4":
                name, data = "mp4", mp4[: int(rng.integers(0, len(mp4) - 1))]
            elif kind == "bitflip_mp4":
                name, data = "mp4", _flip(mp4, rng)
            elif kind == "truncated_jpeg":
                name, data = "jpg", jpeg[: int(rng.integers(0, len(jpeg) - 1))]
            elif kind == "bitflip_jpeg":
                name, data = "jpg", _flip(jpeg, rng)
            elif kind == "zero_length":
                name, data = ("mp4", "jpg", "png", "avi")[i % 4], b""
            elif kind == "wrong_extension":
                name, data = ("mp4", jpeg) if i % 2 == 0 else ("jpg", mp4)
            elif kind == "absurd_dimensions":
                name, data = (
                    ("jpg", _absurd_jpeg(jpeg, rng)) if i % 2 else ("png", _absurd_png(png, rng))
                )
            else:
                options = (
                    bytes(rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8)),
                    b"not an image, just words\n" * int(rng.integers(1, 50)),
                    b'{"frames": [1, 2, 3]}',
                )
                name, data = ("jpg", "png", "mp4")[i % 3], options[i % 3]
            path = root / f"{kind}_{i:02d}.{name}"
            path.write_bytes(data)
            bad.append(path)
            kinds[str(path)] = kind
    return [clip, photo], bad, kinds


def run_corrupt(root: Path, per_kind: int, seed: int) -> dict[str, Any]:
    """Annotate every corrupt input and the good ones in one `cer annotate` process."""
    good, bad, kinds = make_inputs(root / "inputs", per_kind, seed)
    out = root / "out"
    cmd = [sys.executable, "-m", "cer_desktop", "annotate", *map(str, good + bad)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [*cmd, "-o", str(out), "--no-progress", "--label-set", "raf_basic"],
        capture_output=True,
        text=True,
        timeout=3600,
        env=env,
    )
    status: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("done", "failed", "skipped", "interrupted"):
            status[parts[1]] = parts[0]
    reported = sum(str(p) in status for p in bad)
    failed_by_kind: dict[str, int] = {}
    for p in bad:
        if status.get(str(p)) == "failed":
            failed_by_kind[kinds[str(p)]] = failed_by_kind.get(kinds[str(p)], 0) + 1
    crashed = proc.returncode not in (0, 1) or "Traceback" in proc.stderr
    return {
        "corrupt_inputs": len(bad),
        "corrupt_reported": reported,
        "corrupt_failed": sum(status.get(str(p)) == "failed" for p in bad),
        "corrupt_decoded_anyway": sum(status.get(str(p)) == "done" for p in bad),
        "corrupt_failed_by_kind": failed_by_kind,
        "good_inputs_annotated": sum(status.get(str(p)) == "done" for p in good),
        "annotate_exit_code": proc.returncode,
        "annotate_crashed": crashed,
        "annotate_stderr_tail": proc.stderr[-400:] if crashed else "",
    }
