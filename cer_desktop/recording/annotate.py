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
Stills need no flag: they are padded before detection and the instant tier reads them in its
still mode (no personal baseline; the manifest says `recognizer_mode: still`).

Resuming: an input whose session folder says it finished (`input_complete` in the manifest,
same input path) is skipped. An interrupted or failed one is annotated again from the start
(its folder is cleared): restarting costs at most one input's work and leaves no question of
how two halves were joined. An input that cannot be read (missing, corrupt, no frames) is
reported and skipped; the exit code is 1 if any input failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.capture.base import FrameSource, SourceError, SourceState
from cer_desktop.contracts import Annotation, Frame, Recognizer
from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.recording.manifest import (
    ManifestError,
    read_manifest,
    recognizer_fields,
    write_manifest,
)
from cer_desktop.vocab import IMAGE_SUFFIXES, QUANTS, VIDEO_SUFFIXES

log = logging.getLogger(__name__)

DEFAULT_IMAGE_FPS = 1.0
DEFAULT_LABEL_SET = "raf_compound+neutral"


@dataclass(frozen=True)
class InputItem:
    """One thing to annotate: a video file, an image file or a folder of images."""

    path: Path
    kind: str  # "video" | "image" | "images"
    name: str  # the session folder's name under OUT (stable across runs)


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


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "input"


def expand_inputs(inputs: Iterable[str | Path]) -> list[InputItem]:
    """Turn the command line's files and folders into inputs (missing paths included, as
    'video' items, so they are reported as failures rather than silently ignored)."""
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(path: Path, kind: str, name: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            items.append(InputItem(path, kind, _safe(name)))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            root_name = p.resolve().name or "input"
            for folder in [p, *sorted(d for d in p.rglob("*") if d.is_dir())]:
                rel = folder.relative_to(p)
                prefix = "__".join([root_name, *rel.parts])
                files = sorted(f for f in folder.iterdir() if f.is_file())
                if any(f.suffix.lower() in IMAGE_SUFFIXES for f in files):
                    add(folder, "images", prefix + "__images")
                for f in files:
                    if f.suffix.lower() in VIDEO_SUFFIXES:
                        add(f, "video", f"{prefix}__{f.name}")
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            add(p, "image", p.name)
        else:
            add(p, "video", p.name)
    return items


class _RetimedSource(FrameSource):
    """Wraps a file source so frame n is stamped at n / fps: the input's own time, not the
    time it happened to be processed at (offline runs go faster or slower than real time)."""

    is_live = False

    def __init__(self, inner: FrameSource, fps: float) -> None:
        super().__init__(inner.description)
        self.inner = inner
        self._fps = fps
        self._n = 0
        self._t0 = time.monotonic()
        self._wall0 = datetime.now(UTC)
        self.t_current = 0.0  # the stamp of the frame last read (the instant recognizer's clock)
        self.paths: list[str] = []  # file of each frame, for image inputs
        # Frames of one stream (a video, or images given a frame rate): faces are tracked and
        # baselines learned. Otherwise each image is a still on its own.
        self.sequence = True

    @property
    def fps(self) -> float | None:
        return self._fps

    def _open(self) -> None:
        if self.inner.state is SourceState.IDLE:
            self.inner.open()

    def _read(self) -> np.ndarray | None:
        frame = self.inner.read()
        if frame is None:
            return None
        current = getattr(self.inner, "current_path", None)
        if current is not None:
            self.paths.append(str(current))
        return np.asarray(frame.image)

    def _make_frame(self, image: np.ndarray, t_capture: float | None = None) -> Frame:
        self.t_current = self._n / self._fps
        self._n += 1
        frame = super()._make_frame(image, t_capture=self._t0 + self.t_current)
        # Wall time on the same clock: the run's start plus the input's own time.
        return dataclasses.replace(
            frame,
            wall_time=self._wall0 + timedelta(seconds=self.t_current),
            path=self.paths[-1] if self.paths else "",
        )

    def _close(self) -> None:
        self.inner.close()


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


def _open_source(item: InputItem, fps: float | None) -> tuple[_RetimedSource, int | None]:
    from cer_desktop.capture.files import ImageFolderSource, VideoFileSource

    inner: FrameSource
    total: int | None
    if item.kind == "video":
        if not item.path.exists():
            raise SourceError(f"cannot open {item.path}: no such file")
        inner = VideoFileSource(item.path)
        inner.open()  # probes: raises SourceError for a corrupt file before any output exists
        rate = fps or inner.fps or 30.0
        total = inner.frame_count
    elif item.kind == "image":
        inner = ImageFolderSource([item.path])
        inner.open()
        rate, total = fps or DEFAULT_IMAGE_FPS, 1
    else:
        inner = ImageFolderSource(item.path)
        inner.open()
        rate, total = fps or DEFAULT_IMAGE_FPS, len(inner.paths)
    source = _RetimedSource(inner, rate)
    source.sequence = item.kind == "video" or (item.kind == "images" and fps is not None)
    source.open()  # the inner source is open already; this only moves the wrapper to RUNNING
    return source, total


def _is_done(folder: Path, item: InputItem) -> bool:
    try:
        m = read_manifest(folder)
    except ManifestError:
        return False
    return bool(m.get("input_complete")) and m.get("input") == str(item.path.resolve())


RecognizerFactory = Callable[[InputItem, "_RetimedSource"], Recognizer]


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

    from cer_desktop.recording.recorder import RecordingError, SessionRecorder
    from cer_desktop.session.offline import EndReason, concurrency_of, run_offline
    from cer_desktop.vision.analyzer import FaceAnalyzer

    folder = out / item.name
    result = InputResult(item, "failed", folder=folder)
    if not force and _is_done(folder, item):
        result.status, result.message = "skipped", "already annotated"
        return result
    t_start = time.monotonic()
    try:
        source, total = _open_source(item, fps)
    except SourceError as exc:
        result.message = str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a strange file must not end the whole run
        result.message = f"cannot open {item.path}: {type(exc).__name__}: {exc}"
        return result
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted or failed earlier attempt: start again
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
            # Independent stills are never smoothed together: the tracker may give faces of
            # consecutive photos one track id, and an average over them is no one's label.
            stats = run_offline(
                source,
                analyzer,
                recognizer,
                label_set,
                sinks=[recorder, counter],
                smoothing=0.5 if source.sequence else 0.0,
                max_in_flight=concurrency_of(recognizer),  # a remote server: --concurrency
            )
        recorder.close()
        result.frames = recorder.frames_written
        result.faces_rows = counter.rows
        skipped = getattr(source.inner, "skipped", None) or []
        if recorder.error:
            result.message = recorder.error
        elif stats.end_reason is EndReason.SOURCE_ERROR or result.frames == 0:
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


def _instant_factory(item: InputItem, source: _RetimedSource) -> Recognizer:
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
    shard: tuple[int, int] | None = None,
) -> AnnotateSummary:
    """Annotate every input under `out`; see the module docstring. Never raises for a bad
    input; a model that cannot load raises `RecognizerError` before any input is touched."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = expand_inputs(inputs)
    if shard is not None:
        from cer_desktop.recording.shards import select_shard

        items = select_shard(items, [i.name for i in items], *shard)
    summary = AnnotateSummary()
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
    remote_manifest = getattr(shared, "manifest", None)  # a remote recognizer's server, mode
    if callable(remote_manifest):
        extra["remote"] = remote_manifest()
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
    from cer_desktop.recording.shards import add_remote_arguments

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
    p.add_argument("--quant", default="none", choices=QUANTS, help="quantisation of --model")
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
    add_remote_arguments(p)
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
    from cer_desktop.recording.shards import remote_options

    try:
        spec, shard = remote_options(args)
    except (ValueError, RecognizerError) as exc:
        print(f"cer annotate: {exc}", file=sys.stderr)
        return 2
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
            shard=shard,
        )
    except RecognizerError as exc:
        print(f"cer annotate: the model cannot be used: {exc}", file=sys.stderr)
        return 2
    print(summary.table())
    return 1 if summary.failed else 0
