"""`LVLMRecognizer`: the vision-language model behind the `Recognizer` protocol."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cer_desktop.contracts import Face, Prediction, RecognizerError
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.encoding import ImageLimits, square_crops
from cer_desktop.recognition.lvlm.metadata import AdapterMetadata, read_metadata
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, prompt_for
from cer_desktop.recognition.lvlm.spec import ModelSpec

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class LoadCancelled(RecognizerError):
    """Loading was cancelled by the user; the half-loaded model was discarded."""


class InferenceError(RecognizerError):
    """The model failed on a frame (out of memory, bad input...)."""


class LVLMRecognizer:
    """Closed-set (or free-generation) expression recognition with a vision-language model.

    Loads the spec's base model, its adapter and the adapter's metadata (label set, prompt,
    crop size, pixel limits), then warms up. `predict` scores all faces of a frame in one
    batched call. Construct it off the UI thread: loading takes seconds to minutes.
    """

    name = "lvlm"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        warmup: bool = True,
    ) -> None:
        from cer_desktop.recognition.lvlm.cpu_speed import (
            apply_cpu_speed_mode,
            default_cpu_speed_mode,
        )
        from cer_desktop.recognition.lvlm.device_plan import quant_note
        from cer_desktop.recognition.lvlm.loading import load_adapter, load_base, resolve_local
        from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer

        self.spec = spec
        self._progress = progress
        self._cancel = cancel
        self.metadata: AdapterMetadata | None = None
        self._warned_sets: set[str] = set()
        self._check_cancel()
        if spec.adapter:
            # Read the metadata before the (slow) base load, so a broken adapter fails fast.
            folder = resolve_local(
                spec.adapter,
                revision=None,
                local_files_only=spec.local_files_only,
                what="adapter",
            )
            self.metadata = read_metadata(folder)
            self._adapter_folder: str | None = folder
        else:
            self._adapter_folder = None
        model, processor = load_base(spec, progress=progress)
        self._check_cancel(model)
        # what 4-bit means on this device (slow on a Mac's GPU or a CPU), for the window
        self.device_note = quant_note(
            spec.quant, str(getattr(model, "device", "cpu")).split(":")[0]
        )
        if self._adapter_folder:
            model = load_adapter(
                model,
                self._adapter_folder,
                merge=spec.merge_adapter,
                local_files_only=spec.local_files_only,
                progress=progress,
            )
            self._check_cancel(model)
        # numerics-preserving CPU speed-up (bf16 linears packed for oneDNN) where it applies
        self.cpu_speed = default_cpu_speed_mode(model)
        apply_cpu_speed_mode(model, self.cpu_speed)
        self.model: Any = model
        self.processor: Any = processor
        md = self.metadata
        self.crop_size = md.crop_size if md else 224
        self.limits = md.to_limits() if md else ImageLimits.for_crop(self.crop_size)
        self.prompt: PromptTemplate | None = md.to_prompt() if md else None
        self.scorer = ClosedSetScorer(model, processor, None, self.limits)
        if warmup:
            self._report(0.9, "warming up")
            self.warm_up()
            self._check_cancel(model)
        self._report(1.0, "ready")

    @property
    def label_set(self) -> LabelSet | None:
        """The label set the adapter was trained on (None without adapter metadata)."""
        return self.metadata.to_label_set() if self.metadata else None

    def _report(self, fraction: float, message: str) -> None:
        if self._progress is not None:
            self._progress(fraction, message)

    def _check_cancel(self, model: Any = None) -> None:
        if self._cancel is not None and self._cancel.is_set():
            del model
            raise LoadCancelled("model loading cancelled")

    def prompt_for(self, label_set: LabelSet) -> PromptTemplate:
        """The adapter's prompt (rendered with the asked labels) or the label set's own prompt."""
        if self.prompt is None:
            return prompt_for(label_set)
        if self.metadata and label_set.labels != self.metadata.labels:
            if label_set.name not in self._warned_sets:
                self._warned_sets.add(label_set.name)
                log.warning(
                    "adapter was trained on %s, scoring %s with its prompt",
                    self.metadata.label_set,
                    label_set.name,
                )
        return self.prompt

    def warm_up(self) -> None:
        """One forward pass on a grey face, so the first live frame is not the slow one."""
        from cer_desktop.labels import RAF_COMPOUND

        grey = np.full((self.crop_size, self.crop_size, 3), 128, np.uint8)
        self._run([grey], self.label_set or RAF_COMPOUND)

    def _crops(self, faces: Sequence[Face]) -> list[np.ndarray]:
        return square_crops(faces, self.crop_size, InferenceError)

    def _run(self, crops: list[np.ndarray], label_set: LabelSet) -> tuple[np.ndarray, list[bool]]:
        """Probabilities per crop, and per crop whether it is "unknown" (generation only)."""
        from cer_desktop.recognition.lvlm.generation import generate_answers

        prompt = self.prompt_for(label_set)
        self.scorer.prompt = prompt
        if self.spec.mode == "generate":
            answers = generate_answers(
                self.model, self.processor, crops, label_set, prompt, self.limits
            )
            n = len(label_set)
            probs = np.full((len(crops), n), 1.0 / n)
            unknown = []
            for i, a in enumerate(answers):
                if a.label_index is not None:
                    probs[i] = 0.0
                    probs[i, a.label_index] = 1.0
                unknown.append(a.label_index is None)
            return probs, unknown
        return self.scorer.score(crops, label_set), [False] * len(crops)

    def predict(self, faces: Sequence[Face], label_set: LabelSet) -> list[Prediction]:
        """One prediction per face; all faces of the frame in one batched call."""
        if not faces:
            return []
        if self.model is None:
            raise InferenceError("the LVLM recognizer was closed")
        t0 = time.perf_counter()
        crops = self._crops(faces)
        try:
            probs, unknown = self._run(crops, label_set)
        except RecognizerError:
            raise
        except Exception as exc:
            if "out of memory" in str(exc).lower():
                raise InferenceError(
                    f"out of memory scoring {len(faces)} face(s); try --quant nf4 or fewer faces"
                ) from exc
            raise InferenceError(f"the model failed on this frame: {exc}") from exc
        latency = (time.perf_counter() - t0) * 1000.0
        out = []
        for face, p, unk in zip(faces, probs, unknown, strict=True):
            out.append(
                Prediction(
                    track_id=face.track_id,
                    frame_id=face.frame_id,
                    label_set=label_set,
                    probs=tuple(float(x) for x in p),
                    recognizer=self.name,
                    latency_ms=latency,
                    # an answer naming no label shows as "uncertain", never as a label
                    threshold=1.0 if unk else float(self.spec.threshold),
                )
            )
        return out

    def close(self) -> None:
        """Drop the model (frees GPU memory once nothing else holds it). Safe to call twice."""
        self.model = None
        self.processor = None
        self.scorer = None  # type: ignore[assignment]
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover - best effort
            pass
