"""The instant recognizer: action units against a neutral baseline, mapped through the
Du-Tao-Martinez prototypes. No weights of its own, well under a millisecond per face.

The AUs come from MediaPipe's face blendshapes when the face has them (the Tasks face
landmarker, `vision/landmarker_file.py`), else from the legacy face mesh's geometry
(`au_sources`); each track keeps the source it started with.

Two modes (`InstantRecognizer.mode`):
* **live** (`learn_baseline=True`, the GUI and videos): each tracked face's own neutral
  baseline is learned over its first seconds; AUs are read against it with small dead zones.
* **still** (`learn_baseline=False`, image inputs: `cer annotate` picks it for images by
  itself): no personal baseline exists, so every face is read against the population prior
  with dead zones as wide as the spread between people (`au_calibration`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cer_desktop.contracts import Face, Prediction, RecognizerError
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.au import AU_NAMES, LandmarkShapeError, as_mapping, face_features
from cer_desktop.recognition.au_sources import GEOMETRY, SOURCES, AuSource, source_of
from cer_desktop.recognition.prototypes import PrototypeScorer

#: Version of the instant tier's AU geometry, calibration and mapping; recorded in session
#: manifests, since AU values and labels change meaning between versions.
#: 1: eye-frame geometry against the canonical face; 2: population prior and between-people
#: spread for stills, corners read from the mouth's middle, AU41, smile-gated Happiness.
#: 3: AUs from MediaPipe's face blendshapes when the Tasks face landmarker is in use.
#: 4: blendshape source: AU01, AU02 and AU20 need the geometry to agree; its geometry is read
#: against the face landmarker's own prior.
INSTANT_VERSION = "4"

# Weight of the default baseline (prior or seeded), in frames, while a track's own baseline is
# still being learned: the first frame reads against the default alone, later frames lean
# more and more on the face's own median.
_DEFAULT_WEIGHT = 3.0
# At freeze time, samples whose strongest AU against the window median is above this are
# dropped as expressive (a smile while the baseline was being learned).
_GATE_AU = 1.5
_MIN_SAMPLES = 5
_MAX_SAMPLES = 300
# Tracks unseen for this long are forgotten (ids are not reused by the tracker; this only
# bounds memory in long sessions).
_FORGET_SECONDS = 30.0


@dataclass(slots=True)
class _Track:
    started: float
    last_seen: float
    source: str = GEOMETRY.name
    samples: list[np.ndarray] = field(default_factory=list)
    baseline: np.ndarray | None = None  # frozen: learned or seeded


class InstantRecognizer:
    """Recognises expressions from MediaPipe landmarks alone (the app's default tier).

    Per track id, a neutral baseline is learned over the first `baseline_seconds` of the
    track: the median of the feature vectors seen in that window, after dropping frames whose
    AU evidence against that median is high. While it is being learned, predictions are still
    returned, against a blend of the default baseline and the samples so far (so they start
    near neutral for a face at rest; a face whose rest pose differs from the average face,
    e.g. a smiling one, reads as that expression for the first few frames). The default
    baseline is the population prior (a neutral face as MediaPipe measures real people, with
    dead zones widened by the spread between people), or whatever `seed_baseline(landmarks)`
    set. With `learn_baseline=False` (still mode, for images), every face is read against
    the default baseline.

    `predict` fills `Prediction.au` with the AU intensities (0..5) it used: they are also the
    AU readout of the UI. Thread-safe: `reset_baseline`/`seed_baseline` may come from the GUI
    thread while the worker predicts.
    """

    name = "instant"
    version = INSTANT_VERSION

    def __init__(
        self,
        baseline_seconds: float = 2.0,
        threshold: float = 0.0,
        *,
        learn_baseline: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not baseline_seconds >= 0.0:
            raise ValueError(f"baseline_seconds must be >= 0, got {baseline_seconds}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within 0..1, got {threshold}")
        self.baseline_seconds = float(baseline_seconds)
        self.threshold = float(threshold)
        self.learn_baseline = bool(learn_baseline)
        self._clock = clock
        self._lock = threading.Lock()
        self._tracks: dict[int, _Track] = {}
        self._defaults = {name: src.prior.copy() for name, src in SOURCES.items()}
        self._seeded: set[str] = set()
        self._last_source: str | None = None
        self._scorers: dict[LabelSet, PrototypeScorer] = {}

    @property
    def mode(self) -> str:
        """ "live" (baselines learned per track) or "still" (every face against the prior)."""
        return "live" if self.learn_baseline else "still"

    @property
    def au_source(self) -> str:
        """ "blendshapes" or "geometry": what the last face was read with, else what the
        vision stage will give (a face landmarker task file found, or not)."""
        if self._last_source is not None:
            return self._last_source
        from cer_desktop.vision.landmarker_file import find_landmarker

        return find_landmarker().au_source

    # --- baseline control ----------------------------------------------------------------
    def reset_baseline(self, track_id: int | None = None) -> None:
        """Forget the learned baseline of one track (None: of every track); it is re-learned
        from the next frames. A seeded default baseline stays."""
        with self._lock:
            if track_id is None:
                self._tracks.clear()
            else:
                self._tracks.pop(int(track_id), None)

    def seed_baseline(self, landmarks: np.ndarray | Face, track_id: int | None = None) -> None:
        """Use the given neutral face as the baseline of `track_id` (frozen, not re-learned),
        or, with None, as the default baseline for tracks without history and still images.

        A `Face` seeds the AU source it carries (blendshapes when it has them); a bare
        landmark array seeds the geometry source. Raises `LandmarkShapeError` (a ValueError)
        for unusable landmarks.
        """
        if isinstance(landmarks, Face):
            src = source_of(landmarks)
            feats = src.features(landmarks)
        else:
            src, feats = GEOMETRY, face_features(landmarks)
        with self._lock:
            if track_id is None:
                self._defaults[src.name] = feats
                self._seeded.add(src.name)
            else:
                now = self._clock()
                self._tracks[int(track_id)] = _Track(now, now, src.name, baseline=feats)

    def clear_seed(self) -> None:
        """Go back to the population prior as the default baseline."""
        with self._lock:
            self._defaults = {name: src.prior.copy() for name, src in SOURCES.items()}
            self._seeded.clear()

    def baseline_state(self, track_id: int) -> str:
        """Where a track's baseline stands: "default" (no history), "learning" or "frozen"."""
        with self._lock:
            track = self._tracks.get(int(track_id))
        if track is None or (track.baseline is None and not track.samples):
            return "default"
        return "frozen" if track.baseline is not None else "learning"

    # --- recognition ---------------------------------------------------------------------
    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        """One prediction per face (same order), with AU evidence and the call's latency."""
        t0 = time.perf_counter()
        scorer = self._scorer(label_set)  # raises UnknownLabelError for labels without prototype
        if not faces:
            return []
        now = self._clock()
        aus = np.empty((len(faces), len(AU_NAMES)))
        with self._lock:
            for i, face in enumerate(faces):
                src = source_of(face)
                try:
                    feats = src.features(face)
                except LandmarkShapeError as exc:
                    raise RecognizerError(f"face {face.track_id}: {exc}") from exc
                base, prior_share = self._baseline_for(face.track_id, src, feats, now)
                aus[i] = src.aus(feats, base, prior_share)
                self._last_source = src.name
            self._forget_stale(now)
        probs = scorer.probs(aus)
        latency = (time.perf_counter() - t0) * 1000.0
        return [
            Prediction(
                track_id=face.track_id,
                frame_id=face.frame_id,
                label_set=label_set,
                probs=tuple(float(p) for p in probs[i]),
                au=as_mapping(aus[i]),
                recognizer=self.name,
                latency_ms=latency,
                threshold=self.threshold,
            )
            for i, face in enumerate(faces)
        ]

    def close(self) -> None:
        """Nothing to release; forgets the baselines. Safe to call twice."""
        self.reset_baseline()

    # --- internals -----------------------------------------------------------------------
    def _scorer(self, label_set: LabelSet) -> PrototypeScorer:
        scorer = self._scorers.get(label_set)
        if scorer is None:
            scorer = PrototypeScorer(label_set)
            self._scorers[label_set] = scorer
        return scorer

    def _baseline_for(
        self, track_id: int, src: AuSource, feats: np.ndarray, now: float
    ) -> tuple[np.ndarray, float]:
        """The baseline to read this frame against and its prior share; learns as it goes.

        Called with the lock held.
        """
        default = self._defaults[src.name]
        default_share = 0.0 if src.name in self._seeded else 1.0
        track = self._tracks.get(track_id)
        if track is not None and track.source != src.name:
            track = None  # the vision stage changed its landmark model: start afresh
        if track is None:
            if not self.learn_baseline:
                return default, default_share
            track = self._tracks[track_id] = _Track(now, now, src.name)
        track.last_seen = now
        if track.baseline is not None:
            return track.baseline, 0.0
        if not self.learn_baseline:
            return default, default_share
        # Read this frame against what was learned *before* it (so a still image, or the
        # first frame of a track, is read against the default baseline alone).
        n = len(track.samples)
        if n:
            own = np.median(np.asarray(track.samples), axis=0)
            w = _DEFAULT_WEIGHT / (_DEFAULT_WEIGHT + n)
            base = w * default + (1.0 - w) * own
            share = w * default_share
        else:
            base, share = default, default_share
        if len(track.samples) < _MAX_SAMPLES:
            track.samples.append(feats)
        if now - track.started >= self.baseline_seconds and len(track.samples) >= _MIN_SAMPLES:
            track.baseline = _robust_baseline(np.asarray(track.samples), src)
            track.samples = []
        return base, share

    def _forget_stale(self, now: float) -> None:
        stale = [tid for tid, t in self._tracks.items() if now - t.last_seen > _FORGET_SECONDS]
        for tid in stale:
            del self._tracks[tid]


def _robust_baseline(samples: np.ndarray, src: AuSource) -> np.ndarray:
    """Median of the samples whose AU evidence against the overall median is low.

    The median alone already ignores a minority of expressive frames; the gate also keeps a
    long smile from pulling it. If too few frames pass, the plain median is used.
    """
    median = np.median(samples, axis=0)
    strength = np.array([src.aus(s, median, 0.0).max() for s in samples])
    calm = samples[strength <= _GATE_AU]
    if len(calm) >= max(3, len(samples) // 3):
        return np.median(calm, axis=0)
    return median
