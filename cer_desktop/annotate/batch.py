"""`cer annotate INPUT... -o OUT`: run the recognizer over videos and images, every frame.

Inputs: video files, image files, and folders. A folder contributes each video file in it
(recursively) as one input, and each folder that directly holds images as one input (an image
sequence, in natural order). Every input gets its own session folder under OUT with the same
files as a live recording (annotated.mp4, frames.csv, events.jsonl, manifest.json, optional
raw.mp4), plus `inputs.csv` (frame -> image file) for image inputs.

Every frame is processed: the pipeline runs offline (the recognizer answers every frame, the
recorder blocks instead of dropping). Times in the CSV and the video are the input's own:
a video frame's presentation time in the file (gaps in a variable-rate video stay gaps);
images are independent stills 1 s apart, unless `--fps`
says they are a frame sequence (then faces are tracked and baselines learned, as in a video).
Stills need no flag: they are padded before detection and the instant tier reads them in its
still mode (no personal baseline; the manifest says `recognizer_mode: still`). The CSV holds
the recognizer's own probabilities unless `--smoothing S` asks for the live view's smoothing
(the manifest records `smoothing`).

Resuming: an input whose session folder says it finished (`input_complete` in the manifest,
same input path) is skipped. An interrupted or failed one is annotated again from the start
(its folder is cleared): restarting costs at most one input's work and leaves no question of
how two halves were joined. An input with more frames the recognizer failed on than
`--max-recognizer-errors` (default 0) has failed; a server that stops answering ends the input
at once, and each later input is started only after one probe finds it back
(guard.py). Only such a folder is ever cleared: a folder of the same name that
is not an earlier annotation of the same input is left alone and the input reported. An output
folder inside an input folder is refused (the next run would read its own output). An input
that cannot be read (missing, corrupt, no frames) is reported and skipped; the exit code is 1
if any input failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.annotate.guard import (
    WatchedRecognizer,
    server_down,
    unlabelled_verdict,
)
from cer_desktop.annotate.inputs import (
    DEFAULT_IMAGE_FPS,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    InputItem,
    RetimedSource,
    claim_folder,
    expand_inputs,
    inputs_containing,
    is_done,
    open_input,
)
from cer_desktop.annotate.results import AnnotateSummary, InputResult
from cer_desktop.annotate.stop_signals import StopRequest
from cer_desktop.capture.base import SourceError
from cer_desktop.contracts import Annotation, Recognizer
from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.pipeline.stats import EndReason, PipelineStats
from cer_desktop.recording.session_folder import Manifest, SessionPaths
from cer_desktop.session.recognizers import label_set_for

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
    stop: StopRequest | None = None,
    smoothing: float = 0.0,
    max_recognizer_errors: int = 0,
) -> InputResult:
    """Annotate one input into `out/<item.name>`; never raises for a bad input.

    `smoothing` (0 = off) applies to videos and image sequences, never to independent stills;
    more than `max_recognizer_errors` frames without labels make the input "failed".

    A `stop` request (a signal) ends the input after its current frame: the session is
    finalised, left unfinished (`input_complete` false) and the result is "interrupted".
    """
    from tqdm import tqdm

    from cer_desktop.recording.recorder import RecordingError
    from cer_desktop.session.offline import OfflineSession

    folder = out / item.name
    result = InputResult(item, "failed", folder=folder)
    if not force and is_done(folder, item):
        result.status, result.message = "skipped", "already annotated"
        return result
    t_start = time.monotonic()
    try:
        source, total = open_input(item, fps)
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
        # Independent stills are never smoothed together: the tracker may give faces of
        # consecutive photos one track id, and an average over them is no one's label.
        "smoothing": smoothing if source.sequence else 0.0,
        "max_recognizer_errors": max_recognizer_errors,
        **(manifest_extra or {}),
    }
    recognizer = None
    session = None
    try:
        refused = claim_folder(folder, item, force=force)
        if refused:
            result.message = refused
            return result
        recognizer = make_recognizer(item, source)
        session = OfflineSession(
            source,
            recognizer,
            label_set,
            max_faces=max_faces,
            smoothing=float(extra["smoothing"]),
            static_images=not source.sequence,
        )
        recorder = session.record(folder, record_raw=record_raw, manifest=extra)
        with tqdm(
            total=total, desc=item.name[:40], unit="frame", disable=not progress, leave=False
        ) as bar:
            counter = _Progress(bar)
            if stop is not None:
                stop.attach(source)  # a signal ends the input like the end of its file
            watched = WatchedRecognizer(recognizer, source.request_stop)
            try:
                # a remote server answers --concurrency requests at once (the default)
                stats = session.run(sinks=[counter], recognizer=watched)
            finally:
                if stop is not None:
                    stop.attach(None)
        session.finish_recording()
        result.frames = recorder.frames_written
        result.faces_rows = counter.rows
        skipped = getattr(source.inner, "skipped", None) or []
        result.unreachable = watched.unreachable
        unlabelled, unfinished = unlabelled_verdict(
            stats, max_recognizer_errors, watched.unreachable
        )
        if recorder.error:
            result.message = recorder.error
        elif stop is not None and stop.requested:
            result.status = "interrupted"
            result.message = (
                f"stopped by {stop.name} after {result.frames} frames (kept in {folder};"
                " annotated again on the next run)"
            )
        elif source_failed(stats) or result.frames == 0:
            result.message = stats.last_error or f"no frames in {item.path}"
            if result.frames:
                result.message += f" ({result.frames} frames before it kept in {folder})"
        elif unfinished:  # kept for a look, unfinished: the next run annotates it again
            result.message = unfinished
            m = Manifest.read(folder)
            m.update(unlabelled_frames=unlabelled, failure=unfinished)
            m.write(folder)
        else:
            result.status = "done"
            m = Manifest.read(folder)
            m.update(input_complete=True, unlabelled_frames=unlabelled)
            if skipped:
                m.unreadable_images = [[str(p), why] for p, why in skipped]
                result.message = (
                    f"{result.frames} frames; {len(skipped)} unreadable images skipped: "
                    + ", ".join(Path(p).name for p, _ in skipped)
                )
            if source.paths:
                paths = SessionPaths(folder)
                m.files["inputs"] = paths.inputs.name
                _write_inputs(paths.inputs, source.paths)
            m.write(folder)
    except RecordingError as exc:
        result.message = str(exc)
    except Exception as exc:  # noqa: BLE001 - report and go on with the next input
        log.debug("annotating %s failed", item.path, exc_info=True)
        result.message = f"{type(exc).__name__}: {exc}"
    finally:
        if session is not None:
            session.close()
        if recognizer is not None and close_recognizer:
            recognizer.close()
        source.close()
    result.seconds = time.monotonic() - t_start
    return result


def source_failed(stats: PipelineStats) -> bool:
    """True when the run ended because its source failed (decided on the typed end reason,
    never on the message text)."""
    return stats.end_reason is EndReason.SOURCE_ERROR


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
    stop: StopRequest | None = None,
    shard: tuple[int, int] | None = None,
    smoothing: float = 0.0,
    max_recognizer_errors: int = 0,
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
    if shard is not None:
        from cer_desktop.annotate.shards import select_shard

        items = select_shard(items, [i.name for i in items], *shard)
    shared: Recognizer | None = None
    factory: RecognizerFactory = _instant_factory
    if model_spec is not None:
        from cer_desktop.recognition.factory import create_recognizer

        shared = create_recognizer(model_spec)
        factory = lambda item, source: shared  # noqa: E731 - one model for every input
    # An adapter knows the label set it was trained on; use it unless told otherwise.
    label_set = label_set_for(shared, label_set) or get_label_set(DEFAULT_LABEL_SET)
    extra: dict[str, Any] = {"label_set": label_set.name, "labels": list(label_set.labels)}
    remote_manifest = getattr(shared, "manifest", None)  # a remote recognizer's server, mode
    if callable(remote_manifest):
        extra["remote"] = remote_manifest()
    down = ""  # why the server did not answer the last input ("" while it answers)
    try:
        from tqdm import tqdm

        for n, item in enumerate(
            tqdm(items, desc="inputs", unit="input", disable=not progress or len(items) < 2)
        ):
            if stop is not None and stop.requested:
                summary.interrupted, summary.not_started = stop.name, len(items) - n
                break
            down = down and server_down(model_spec)  # one probe: is it back?
            if down:
                r = InputResult(item, "failed", message=f"not started: {down}")
                summary.results.append(r)
                if echo is not None:
                    echo(f"failed: {item.path}: {r.message}")
                continue
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
                stop=stop,
                smoothing=smoothing,
                max_recognizer_errors=max_recognizer_errors,
            )
            summary.results.append(r)
            down = r.unreachable
            if r.status == "interrupted":
                summary.interrupted = stop.name if stop is not None else "a signal"
                summary.not_started = len(items) - n - 1
                break
            if echo is not None and r.status == "failed":
                echo(f"failed: {item.path}: {r.message}")
    finally:
        if shared is not None:
            shared.close()
    return summary
