"""Time landmarks + alignment per face on 640x480 frames (`cer bench vision --json`).

Has the `add_arguments(parser)` / `run(args) -> dict` shape of the `cer bench` modules.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np


def _frames(n_faces: int, n_frames: int) -> list[np.ndarray]:
    """640x480 frames with `n_faces` astronaut faces drifting a few pixels per frame."""
    import cv2
    from skimage import data

    patch = np.ascontiguousarray(data.astronaut()[10:270, 100:360])
    size = 300 if n_faces == 1 else 200
    patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n_frames):
        canvas = np.full((480, 640, 3), 110, np.uint8)
        dx = int(20 * np.sin(i / 15))
        for k in range(n_faces):
            x = 40 + dx + k * (size + 20) if n_faces > 1 else 170 + dx
            y = 90 if n_faces > 1 else 90 + dx // 2
            canvas[y : y + size, x : x + size] = patch
        frames.append(canvas)
    return frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=150, help="frames per configuration")
    parser.add_argument("--crop-size", type=int, default=224)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cer_desktop.contracts import Frame
    from cer_desktop.vision.analyzer import FaceAnalyzer

    result: dict[str, Any] = {"frame": "640x480", "crop_size": args.crop_size}
    for max_faces, n_faces in ((1, 1), (4, 1), (4, 2)):
        analyzer = FaceAnalyzer(max_faces=max_faces, crop_size=args.crop_size)
        lm_ms, al_ms, found = [], [], []
        for i, image in enumerate(_frames(n_faces, args.frames + 10)):
            faces = analyzer.process(Frame(i, time.monotonic(), datetime.now(UTC), image))
            if i >= 10:  # the first frames include MediaPipe's start-up
                lm_ms.append(analyzer.last_timing["landmarks"])
                al_ms.append(analyzer.last_timing["align"])
                found.append(len(faces))
        result["landmark_model"] = analyzer.landmark_model
        analyzer.close()
        key = f"max{max_faces}_faces{n_faces}"
        lm = statistics.median(lm_ms)
        al = statistics.median(al_ms)
        result[f"{key}_landmarks_ms_median"] = round(lm, 2)
        result[f"{key}_align_ms_median"] = round(al, 2)
        result[f"{key}_per_face_ms"] = round((lm + al) / n_faces, 2)
        result[f"{key}_found_fraction"] = round(
            sum(f == n_faces for f in found) / max(1, len(found)), 3
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    result = run(parser.parse_args(argv))
    print(json.dumps(result), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
