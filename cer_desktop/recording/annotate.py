"""`cer annotate INPUT... -o OUT`: run the recognizer over videos and images, every frame.

Inputs: video files, image files, and folders. A folder contributes each video file in it
(recursively) as one input, and each folder that directly holds images as one input (an image
sequence, in natural order). Every input gets its own session folder under OUT with the same
files as a live recording (annotated.mp4, frames.csv, events.jsonl, manifest.json, optional
raw.mp4), plus `inputs.csv` (frame -> image file) for image inputs.

Every frame is processed: the pipeline runs offline (the recognizer answers every frame, the
recorder blocks instead of dropping). Times in the CSV and the video are the input's own:
frame n of a video is at n / fps; images are independent stills 1 s apart, unless `--fps`
says they are a frame sequence (then faces are tracked and baselines learned, as in a video).

Resuming: an input whose session folder says it finished (`input_complete` in the manifest,
same input path) is skipped. An interrupted or failed one is annotated again from the start
(its folder is cleared): restarting costs at most one input's work and leaves no question of
how two halves were joined. Only such a folder is ever cleared: a folder of the same name that
is not an earlier annotation of the same input is left alone and the input reported. An output
folder inside an input folder is refused (the next run would read its own output). An input
that cannot be read (missing, corrupt, no frames) is reported and skipped; the exit code is 1
if any input failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.capture.base import SourceError
from cer_desktop.contracts import Annotation, Recognizer
from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.recording.annotate_inputs import (
    DEFAULT_IMAGE_FPS,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    InputItem,
    RetimedSource,
    claim_folder,
    expand_inputs,
    inputs_containing,
    is_done,
    open_source,
)
from cer_desktop.recording.manifest import read_manifest, recognizer_fields, write_manifest

__all__ = [
    "DEFAULT_IMAGE_FPS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AnnotateSummary",
    "InputItem",
    "InputResult",
    "annotate",
    "annotate_one",
    "expand_inputs",
]

log = logging.getLogger(__name__)
DEFAULT_LABEL_SET = "raf_compound+neutral"


@dataclass
class InputResult:
    item: InputItem
    status: str  # "done" | "skipped" | "failed"
    frames: int = 0
    faces_rows: int = 0
    seconds: float = 0.0
    message: str = ""
    folder: Path | None = None


@dataclass
class AnnotateSummary:
    results: list[InputResult] = field(default_factory=list)

    @property
    def failed(self) -> list[InputResult]:
        return [r for r in self.results if r.status == "failed"]

    def table(self) -> str:
        lines = []
        for r in self.results:
            detail = r.message or f"{r.frames} frames, {r.faces_rows} face rows, {r.seconds:.1f} s"
            lines.append(f"  {r.status:<8} {r.item.path}  ->  {detail}")
        done = sum(r.status == "done" for r in self.results)
        skipped = sum(r.status == "skipped" for r in self.results)
        lines.append(
            f"{done} annotated, {skipped} already done, {len(self.failed)} failed "
            f"(of {len(self.results)} inputs)"
        )
        return "\n".join(lines)


class _Progress:
    """A sink that advances a tqdm bar per frame (after the recorder took it)."""

    name = "progress"

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.rows = 0

    def submit(self, annotation: Annotation, painted: np.ndarray) -> bool:
        self.rows += len(annotation.faces)
        self.bar.update(1)
        return True

    def close(self) -> None:
        pass


RecognizerFactory = Callable[[InputItem, "RetimedSource"], Recognizer]


def annotate_one(
    item: InputItem,
    out: Path,
    *,
    label_set: LabelSet,
    make_recognizer: RecognizerFactory,
    record_raw: bool = False,
    fps: float | None = None,
    max_faces: int = 4,
    force: bool = False,
    progress: bool = True,
    manifest_extra: dict[str, Any] | None = None,
    close_recognizer: bool = True,
) -> InputResult:
    """Annotate one input into `out/<item.name>`; never raises for a bad input."""
    from tqdm import tqdm

    from cer_desktop.pipeline.pipeline import Pipeline
    from cer_desktop.recording.recorder import RecordingError, SessionRecorder
    from cer_desktop.vision.analyzer import FaceAnalyzer

    folder = out / item.name
    result = InputResult(item, "failed", folder=folder)
    if not force and is_done(folder, item):
        result.status, result.message = "skipped", "already annotated"
        return result
    t_start = time.monotonic()
    try:
        source, total = open_source(item, fps)
    except SourceError as exc:
        result.message = str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a strange file must not end the whole run
        result.message = f"cannot open {item.path}: {type(exc).__name__}: {exc}"
        return result
    extra = {
        "input": str(item.path.resolve()),
        "input_kind": item.kind,
        "input_complete": False,
        "source": source.description,
        "mode": "annotate",
        **(manifest_extra or {}),
    }
    recognizer = None
    analyzer = None
    recorder = None
    try:
        refused = claim_folder(folder, item, force=force)
        if refused:
            result.message = refused
            return result
        recognizer = make_recognizer(item, source)
        for key, value in recognizer_fields(recognizer, label_set).items():
            extra.setdefault(key, value)
        recorder = SessionRecorder(
            folder, record_raw=record_raw, fps=source.fps or 30.0, block=True, manifest_extra=extra
        )
        # The crop the model was trained on (adapter metadata), 224 otherwise.
        crop = int(getattr(recognizer, "crop_size", 224) or 224)
        analyzer = FaceAnalyzer(
            max_faces=max_faces, crop_size=crop, static_images=not source.sequence
        )
        with tqdm(
            total=total, desc=item.name[:40], unit="frame", disable=not progress, leave=False
        ) as bar:
            counter = _Progress(bar)
            pipeline = Pipeline(
                source, analyzer, recognizer, label_set, offline=True, sinks=[recorder, counter]
            )
            stats = pipeline.run()
        recorder.close()
        result.frames = recorder.frames_written
        result.faces_rows = counter.rows
        skipped = getattr(source.inner, "skipped", None) or []
        if recorder.error:
            result.message = recorder.error
        elif stats.last_error.startswith("Source error") or result.frames == 0:
            result.message = stats.last_error or f"no frames in {item.path}"
            if result.frames:
                result.message += f" ({result.frames} frames before it kept in {folder})"
        else:
            result.status = "done"
            m = read_manifest(folder)
            m["input_complete"] = True
            if skipped:
                m["unreadable_images"] = [[str(p), why] for p, why in skipped]
                result.message = (
                    f"{result.frames} frames; {len(skipped)} unreadable images skipped: "
                    + ", ".join(Path(p).name for p, _ in skipped)
                )
            if source.paths:
                m["files"]["inputs"] = "inputs.csv"
                _write_inputs(folder / "inputs.csv", source.paths)
            write_manifest(folder, m)
    except RecordingError as exc:
        result.message = str(exc)
    except Exception as exc:  # noqa: BLE001 - report and go on with the next input
        log.debug("annotating %s failed", item.path, exc_info=True)
        result.message = f"{type(exc).__name__}: {exc}"
    finally:
        if recorder is not None:
            recorder.close()
        if analyzer is not None:
            analyzer.close()
        if recognizer is not None and close_recognizer:
            recognizer.close()
        source.close()
    result.seconds = time.monotonic() - t_start
    return result


def _write_inputs(path: Path, paths: Sequence[str]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["frame", "path"])
        w.writerows([i, p] for i, p in enumerate(paths))


def _instant_factory(item: InputItem, source: RetimedSource) -> Recognizer:
    from cer_desktop.recognition.instant import InstantRecognizer

    # Baselines are learned over the input's own time (not processing time); stills are
    # read against the default neutral face.
    return InstantRecognizer(learn_baseline=source.sequence, clock=lambda: source.t_current)


def annotate(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    label_set: LabelSet | None = None,
    model_spec: Any = None,
    record_raw: bool = False,
    fps: float | None = None,
    max_faces: int = 4,
    force: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> AnnotateSummary:
    """Annotate every input under `out`; see the module docstring. Never raises for a bad
    input; a model that cannot load raises `RecognizerError` before any input is touched."""
    out = Path(out)
    summary = AnnotateSummary()
    refused = inputs_containing(out, inputs)
    for folder in refused:
        # Refused before anything is written: the next run would read its own output.
        message = f"the output folder {out} is inside this input; choose one outside it"
        summary.results.append(InputResult(InputItem(folder, "images", folder.name), "failed"))
        summary.results[-1].message = message
        if echo is not None:
            echo(f"failed: {folder}: {message}")
    inputs = [i for i in inputs if Path(i) not in refused]
    if inputs:
        out.mkdir(parents=True, exist_ok=True)
    items = expand_inputs(inputs)
    shared: Recognizer | None = None
    factory: RecognizerFactory = _instant_factory
    if model_spec is not None:
        from cer_desktop.recognition.factory import create_recognizer

        shared = create_recognizer(model_spec)
        factory = lambda item, source: shared  # noqa: E731 - one model for every input
        # An adapter knows the label set it was trained on; use it unless told otherwise.
        label_set = label_set or getattr(shared, "label_set", None)
    label_set = label_set or get_label_set(DEFAULT_LABEL_SET)
    extra: dict[str, Any] = {"label_set": label_set.name, "labels": list(label_set.labels)}
    try:
        from tqdm import tqdm

        for item in tqdm(
            items, desc="inputs", unit="input", disable=not progress or len(items) < 2
        ):
            r = annotate_one(
                item,
                out,
                label_set=label_set,
                make_recognizer=factory,
                record_raw=record_raw,
                fps=fps,
                max_faces=max_faces,
                force=force,
                progress=progress,
                manifest_extra=extra,
                close_recognizer=shared is None,
            )
            summary.results.append(r)
            if echo is not None and r.status == "failed":
                echo(f"failed: {item.path}: {r.message}")
    finally:
        if shared is not None:
            shared.close()
    return summary


# -- command line ---------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, image files, folders")
    p.add_argument("-o", "--out", required=True, help="output folder (one session per input)")
    p.add_argument(
        "--label-set",
        default=None,
        help="label set name (raf_basic, raf_compound, c_expr, ...+neutral) or custom:A,B,C;"
        f" default: the adapter's, else {DEFAULT_LABEL_SET}",
    )
    p.add_argument("--model", default=None, help="base model (hub id or folder); default: instant")
    p.add_argument("--adapter", default=None, help="LoRA adapter folder")
    p.add_argument("--quant", default="none", help="none, nf4 or int8")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--raw", action="store_true", help="also write the raw video")
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="treat image folders as frame sequences at this rate (faces tracked, baselines"
        " learned); default: independent stills, 1 s apart",
    )
    p.add_argument("--max-faces", type=int, default=4)
    p.add_argument("--force", action="store_true", help="annotate inputs already done again")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from cer_desktop.contracts import RecognizerError
    from cer_desktop.labels import LabelSetError

    try:
        label_set = get_label_set(args.label_set) if args.label_set else None
    except LabelSetError as exc:
        print(f"cer annotate: {exc}", file=sys.stderr)
        return 2
    spec = None
    if args.model:
        try:
            from cer_desktop.recognition.lvlm.spec import ModelSpec

            spec = ModelSpec(
                base=args.model, adapter=args.adapter, quant=args.quant, device=args.device
            )
        except RecognizerError as exc:
            print(f"cer annotate: {exc}", file=sys.stderr)
            return 2
    try:
        summary = annotate(
            args.inputs,
            args.out,
            label_set=label_set,
            model_spec=spec,
            record_raw=args.raw,
            fps=args.fps,
            max_faces=args.max_faces,
            force=args.force,
            progress=not args.no_progress,
            echo=lambda s: print(s, file=sys.stderr),
        )
    except RecognizerError as exc:
        print(f"cer annotate: the model cannot be used: {exc}", file=sys.stderr)
        return 2
    print(summary.table())
    return 1 if summary.failed else 0
