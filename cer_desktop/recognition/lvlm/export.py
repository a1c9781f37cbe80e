"""`cer export --merge ADAPTER -o FOLDER`: a LoRA adapter merged into its base, for any server.

vLLM applies LoRA to Qwen2-VL's language model only, and our adapters also touch the vision
tower: a server must load the merged model instead. The export is checked in-process: the
closed-set log-likelihoods of the saved, reloaded model must equal base + adapter (unmerged)
on test faces, or the command fails. The adapter's `cer_adapter.json` is copied beside the
model, so the app (and `cer annotate`) still know its label set, prompt and crop size.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cer_desktop.contracts import RecognizerError

log = logging.getLogger(__name__)

MERGE_TOLERANCE = 1e-4  # nats, fp32


class ExportError(RecognizerError):
    """The merged model could not be written, or its scores differ from base + adapter."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    folder: Path
    max_abs_diff: float
    spread: float  # max - min of the reference log-likelihoods (a check that can fail)


def _test_faces(n: int, size: int) -> list[np.ndarray]:
    """n different crops of scikit-image's astronaut photo around her face."""
    import cv2
    from skimage import data

    img = np.ascontiguousarray(data.astronaut())
    crops = []
    for i in range(n):
        x, y, s = 150 + 7 * i, 30 + 5 * i, 200 - 5 * i
        crops.append(cv2.resize(img[y : y + s, x : x + s], (size, size)))
    return crops


def _save_tiling(processor: Any, limits: Any) -> None:
    """Make the saved processor tile faces as the app does: a server reads only its config.

    SmolVLM2's released config splits every image into 512-px tiles + a global one; the app
    sends a face that fits one tile unsplit (`encoding.image_kwargs`). Served with the released
    setting, vLLM scored other inputs than the app trained and scores on (6 nats apart on the
    tiny model; docs/families-smolvlm-gemma3-internvl-onevision.md).
    """
    from cer_desktop.recognition.lvlm.encoding import image_kwargs

    if image_kwargs(processor, limits).get("do_image_splitting") is False:
        processor.image_processor.do_image_splitting = False


def save_model_folder(model: Any, processor: Any, out: Path, limits: Any) -> None:
    """Write a model folder a server reads as the app scores: weights, configs and the
    processor with the app's tiling for faces within `limits` (`_save_tiling`).

    The processor object is changed (its tiling) as it is saved.
    """
    model.save_pretrained(out)
    _save_tiling(processor, limits)
    processor.save_pretrained(out)


def export_merged(
    adapter: str | Path,
    out: str | Path,
    *,
    base: str | None = None,
    faces: int = 2,
    tolerance: float = MERGE_TOLERANCE,
) -> ExportResult:
    """Merge `adapter` into its base (fp32), save to `out`, and check the scores match."""
    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.loading import load_adapter, load_base, resolve_local
    from cer_desktop.recognition.lvlm.metadata import METADATA_FILE, read_metadata
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    folder = Path(resolve_local(str(adapter), revision=None, local_files_only=True, what="adapter"))
    meta = read_metadata(folder)
    base = base or (meta.base_model if meta else "")
    if not base:
        raise ExportError(f"{folder} names no base model: give --base BASE")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty")
    label_set = meta.to_label_set() if meta else RAF_COMPOUND
    prompt = meta.to_prompt() if meta else None
    crop_size = meta.crop_size if meta else 224
    # the recognizer's limits (`LVLMRecognizer`): without metadata, the crop at its own size
    limits = meta.to_limits() if meta else ImageLimits.for_crop(crop_size)
    crops = _test_faces(faces, crop_size)

    model, processor = load_base(ModelSpec(base=base, dtype="fp32", device="cpu"))
    model = load_adapter(model, folder, merge=False)
    reference = ClosedSetScorer(model, processor, prompt, limits).log_likelihoods(crops, label_set)
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    save_model_folder(merged, processor, out, limits)
    if meta is not None:
        shutil.copy2(folder / METADATA_FILE, out / METADATA_FILE)
    del model, merged

    reloaded, processor2 = load_base(ModelSpec(base=str(out), dtype="fp32", device="cpu"))
    got = ClosedSetScorer(reloaded, processor2, prompt, limits).log_likelihoods(crops, label_set)
    diff = float(np.abs(got - reference).max())
    spread = float((reference.max(axis=1) - reference.min(axis=1)).min())
    if not diff <= tolerance:
        raise ExportError(
            f"the merged model in {out} scores differently from base + adapter "
            f"(max |diff| {diff:.2e} nats > {tolerance:g}); do not serve it"
        )
    return ExportResult(out, diff, spread)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--merge", required=True, metavar="ADAPTER", help="LoRA adapter folder")
    p.add_argument("-o", "--out", required=True, metavar="FOLDER", help="new model folder")
    p.add_argument("--base", default=None, help="base model (default: the adapter's metadata)")
    p.add_argument("--faces", type=int, default=2, help="test faces for the equality check")


def run(args: argparse.Namespace) -> int:
    try:
        result = export_merged(args.merge, args.out, base=args.base, faces=args.faces)
    except RecognizerError as exc:
        print(f"cer export: {exc}", file=sys.stderr)
        return 1
    print(
        f"merged model written to {result.folder}; scores equal base + adapter "
        f"(max |diff| {result.max_abs_diff:.1e} nats over labels spread {result.spread:.2f})"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="merge a LoRA adapter into its base and save a model folder any server loads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)
