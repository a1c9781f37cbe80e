"""Stable face track ids across frames: Hungarian matching on box overlap and distance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in pixels

_FORBIDDEN = 1e6  # cost of a pair that must not be matched


@dataclass(slots=True)
class _Track:
    track_id: int
    box: np.ndarray  # x, y, w, h (float)
    velocity: np.ndarray  # dx, dy per frame of the box centre (smoothed)
    misses: int = 0  # frames since last matched

    def predicted(self) -> np.ndarray:
        box = self.box.copy()
        box[:2] += self.velocity * (self.misses + 1)
        return box


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2 = a[0] + a[2], a[1] + a[3]
    bx2, by2 = b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Assigns a stable id to each face box, frame after frame.

    Detections are matched to the tracks' predicted boxes (last box moved by a smoothed
    velocity) with the Hungarian method on a cost of `1 - IoU` plus the centre distance
    relative to the face size. A pair is only allowed when the boxes overlap at least
    `min_iou` or their centres are closer than `max_center_dist` face sizes, so an id
    cannot jump to another, distant face. A track unmatched for more than `max_age`
    frames is forgotten; ids are never reused.
    """

    def __init__(
        self, max_age: int = 15, min_iou: float = 0.1, max_center_dist: float = 0.6
    ) -> None:
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        self.max_age = int(max_age)
        self.min_iou = float(min_iou)
        self.max_center_dist = float(max_center_dist)
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks currently kept (matched recently)."""
        return [t.track_id for t in self._tracks]

    def reset(self) -> None:
        """Forget all tracks. Ids keep increasing (a new face never gets an old id)."""
        self._tracks.clear()

    def warm_up(self) -> None:
        """Import the assignment solver now (0.1-0.2 s), not on the first frame with a face."""
        from scipy.optimize import linear_sum_assignment  # noqa: F401  (kept lazy for the CLI)

    def update(self, boxes: Sequence[Box] | np.ndarray) -> list[int]:
        """Match this frame's boxes (x, y, w, h) to tracks; returns one id per box, in order."""
        from scipy.optimize import linear_sum_assignment

        dets = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ids = [0] * len(dets)
        matched_tracks: set[int] = set()
        if len(dets) and self._tracks:
            cost = self._cost(dets)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] >= _FORBIDDEN:
                    continue
                track = self._tracks[c]
                new_centre = dets[r, :2] + dets[r, 2:] / 2
                old_centre = track.box[:2] + track.box[2:] / 2
                step = (new_centre - old_centre) / (track.misses + 1)
                track.velocity = 0.5 * track.velocity + 0.5 * step
                track.box = dets[r].copy()
                track.misses = 0
                ids[r] = track.track_id
                matched_tracks.add(c)
        survivors: list[_Track] = []
        for i, track in enumerate(self._tracks):
            if i not in matched_tracks:
                track.misses += 1
                if track.misses > self.max_age:
                    continue
            survivors.append(track)
        self._tracks = survivors
        for r in range(len(dets)):
            if ids[r] == 0:
                track = _Track(self._next_id, dets[r].copy(), np.zeros(2))
                self._next_id += 1
                self._tracks.append(track)
                ids[r] = track.track_id
        return ids

    def _cost(self, dets: np.ndarray) -> np.ndarray:
        cost = np.full((len(dets), len(self._tracks)), _FORBIDDEN)
        for c, track in enumerate(self._tracks):
            pred = track.predicted()
            pc = pred[:2] + pred[2:] / 2
            for r, det in enumerate(dets):
                overlap = iou(det, pred)
                dc = det[:2] + det[2:] / 2
                scale = max(
                    float(np.sqrt(max(det[2] * det[3], 1.0))),
                    float(np.sqrt(max(pred[2] * pred[3], 1.0))),
                )
                dist = float(np.linalg.norm(dc - pc)) / scale
                if overlap >= self.min_iou or dist <= self.max_center_dist:
                    cost[r, c] = (1.0 - overlap) + dist
        return cost
