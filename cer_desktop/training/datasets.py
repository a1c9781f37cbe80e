"""Data set readers (RAF-DB basic/compound, C-EXPR-DB, folder-per-class, CSV) and image prep.

Readers only list (image path, label) pairs and check them: every malformed line, missing
image and unknown label is collected with its file and line, and `DatasetError` lists them
all, so a run stops before training instead of half-way. Images are prepared by
`ImagePreparer`, which sends every image through the app's own face aligner
(`cer_desktop.vision.alignment.align_image`) and caches the aligned crops on disk.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cer_desktop.labels import C_EXPR, RAF_BASIC, RAF_COMPOUND, LabelSet, LabelSetError
from cer_desktop.option_values import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

RAF_LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"  # sic: the data set's spelling
MAX_LISTED_PROBLEMS = 50


class DatasetError(ValueError):
    """A data set that cannot be used as it is; the message lists every problem found."""

    def __init__(self, problems: Sequence[str], what: str = "data set"):
        self.problems = list(problems)
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        tail = [f"... and {more} more"] if more > 0 else []
        super().__init__("\n  ".join([f"{what}: {len(self.problems)} problem(s)", *shown, *tail]))


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled image. `key` is how prediction files name it (C-EXPR: video/frame.jpg)."""

    path: Path
    label: int  # index into the data set's label set
    key: str = ""
    source: str = ""  # "file:line" it was read from


@dataclass
class LabeledImages:
    """The samples of one split and the label set their indices refer to."""

    samples: list[Sample]
    label_set: LabelSet
    root: Path
    description: str = ""
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def counts(self) -> dict[str, int]:
        c = Counter(s.label for s in self.samples)
        return {lab: c.get(i, 0) for i, lab in enumerate(self.label_set.labels)}

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"{self.description or self.root}: {len(self)} images ({counts})"


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        raise DatasetError(problems, what)


def rafdb_label_set(root: Path) -> LabelSet:
    """RAF-DB basic or compound, guessed from the folder name (compound/ or basic/)."""
    return RAF_COMPOUND if "compound" in root.name.lower() else RAF_BASIC


def read_rafdb(
    root: str | Path,
    split: str | None = "train",
    *,
    variant: str = "aligned",
    label_set: LabelSet | None = None,
) -> LabeledImages:
    """RAF-DB basic or compound: ``EmoLabel/list_patition_label.txt`` lines ``train_00001.jpg 5``.

    Label ids are 1-based into `label_set` (RAF_BASIC or RAF_COMPOUND, guessed from the folder
    name when not given). `split` ("train"/"test"/None for all) filters on the file-name
    prefix; `variant` picks ``Image/aligned/<stem>_aligned.jpg`` or ``Image/original/<name>``.
    """
    root = Path(root)
    label_set = label_set or rafdb_label_set(root)
    if variant not in ("aligned", "original"):
        raise ValueError(f"variant must be aligned or original, not {variant!r}")
    label_file = root / RAF_LABEL_FILE
    if not label_file.is_file():
        raise DatasetError([f"{label_file}: label file not found"], f"RAF-DB at {root}")
    image_dir = root / "Image" / variant
    if not image_dir.is_dir():
        raise DatasetError([f"{image_dir}: image folder not found"], f"RAF-DB at {root}")
    problems: list[str] = []
    samples: list[Sample] = []
    seen: set[str] = set()
    text = label_file.read_text(encoding="utf-8", errors="replace")
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{label_file}:{lineno}"
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"\d+", parts[1]):
            problems.append(f"{where}: expected '<image name> <label id>', got {raw!r}")
            continue
        name, ident = parts[0], int(parts[1])
        if not 1 <= ident <= len(label_set):
            problems.append(
                f"{where}: unknown label id {ident} (valid 1..{len(label_set)} for {label_set.name})"
            )
            continue
        if name in seen:
            problems.append(f"{where}: {name} listed twice")
            continue
        seen.add(name)
        if split and not name.startswith(f"{split}_"):
            continue
        stem = Path(name).stem
        path = (
            image_dir / f"{stem}_aligned{Path(name).suffix or '.jpg'}"
            if variant == "aligned"
            else image_dir / name
        )
        if not path.is_file():
            problems.append(f"{where}: image {path} not found")
            continue
        samples.append(Sample(path, ident - 1, name, where))
    _raise_if(problems, f"RAF-DB labels {label_file}")
    if not samples:
        raise DatasetError([f"{label_file}: no {split or ''} images listed"], f"RAF-DB at {root}")
    return LabeledImages(samples, label_set, root, f"RAF-DB {label_set.name} {split or 'all'}")


def _match_label(text: str, label_set: LabelSet, *, allow_index: bool) -> int:
    """A label by name (case/underscore-insensitive) or, if allowed, by 0-based index."""
    text = text.strip()
    if allow_index and re.fullmatch(r"\d+", text):
        i = int(text)
        if 0 <= i < len(label_set):
            return i
        raise LabelSetError(f"label index {i} outside 0..{len(label_set) - 1}")
    return label_set.index(text)


def _read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return [(i, row) for i, row in enumerate(csv.reader(fh), start=1)]


def read_labels_csv(
    csv_path: str | Path,
    image_root: str | Path | None = None,
    *,
    label_set: LabelSet,
    allow_index: bool = True,
    what: str = "labels CSV",
) -> LabeledImages:
    """A CSV of ``image,label`` rows (an optional header whose first cell is not an image).

    Paths are relative to `image_root` (default: the CSV's folder); labels are names of
    `label_set` (underscores allowed) or 0-based indices. Extra columns are ignored.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError([f"{csv_path}: file not found"], what)
    image_root = Path(image_root) if image_root is not None else csv_path.parent
    problems: list[str] = []
    samples: list[Sample] = []
    for lineno, row in _read_csv_rows(csv_path):
        where = f"{csv_path}:{lineno}"
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if lineno == 1 and not cells[0].lower().endswith(tuple(IMAGE_SUFFIXES)):
            continue  # header
        if len(cells) < 2 or not cells[0] or not cells[1]:
            problems.append(f"{where}: expected 'image,label', got {','.join(row)!r}")
            continue
        try:
            label = _match_label(cells[1], label_set, allow_index=allow_index)
        except LabelSetError as exc:
            problems.append(f"{where}: unknown label {cells[1]!r} ({exc})")
            continue
        path = image_root / cells[0]
        if not path.is_file():
            problems.append(f"{where}: image {path} not found")
            continue
        samples.append(Sample(path, label, cells[0].replace("\\", "/"), where))
    _raise_if(problems, f"{what} {csv_path}")
    if not samples:
        raise DatasetError([f"{csv_path}: no labelled images"], what)
    return LabeledImages(samples, label_set, image_root, f"{what} {csv_path.name}")


def read_cexpr(
    root: str | Path, labels_csv: str | Path, *, label_set: LabelSet = C_EXPR
) -> LabeledImages:
    """C-EXPR-DB frames: ``<root>/<video>/<frame>.jpg`` and a CSV of ``video/frame.jpg,Label``.

    Labels are the 7 names (``Fearfully_Surprised`` or with spaces) or their indices 0..6.
    """
    root = Path(root)
    labels_csv = Path(labels_csv)
    if not labels_csv.is_absolute():
        labels_csv = root / labels_csv
    return read_labels_csv(labels_csv, root, label_set=label_set, what="C-EXPR-DB labels")


def read_folder(root: str | Path, *, label_set: LabelSet) -> LabeledImages:
    """Folder-per-class: ``<root>/<Label>/*.jpg``; folder names are labels of `label_set`."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError([f"{root}: folder not found"], "image folders")
    problems: list[str] = []
    samples: list[Sample] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = label_set.index(sub.name)
        except LabelSetError:
            problems.append(f"{sub}: folder {sub.name!r} is not a label of {label_set.name}")
            continue
        for img in sorted(sub.iterdir()):
            if img.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(img, label, f"{sub.name}/{img.name}", str(img)))
    _raise_if(problems, f"image folders {root}")
    if not samples:
        raise DatasetError([f"{root}: no images in class folders"], "image folders")
    return LabeledImages(samples, label_set, root, f"folders {root.name}")


def read_dataset(
    fmt: str,
    root: str | Path,
    *,
    label_set: LabelSet,
    split: str | None = "train",
    variant: str = "aligned",
    annotations: str | Path | None = None,
) -> LabeledImages:
    """Dispatch on a recipe's `dataset.format`."""
    root = Path(root)
    if fmt == "rafdb":
        return read_rafdb(root, split, variant=variant, label_set=label_set)
    if fmt == "cexpr":
        if annotations is None:
            raise DatasetError(["no labels CSV given"], "C-EXPR-DB")
        return read_cexpr(root, annotations, label_set=label_set)
    if fmt == "folder":
        return read_folder(
            root / split if split and (root / split).is_dir() else root, label_set=label_set
        )
    if fmt == "csv":
        if annotations is None:
            raise DatasetError(["no labels CSV given"], "CSV data set")
        ann = Path(annotations)
        return read_labels_csv(ann if ann.is_absolute() else root / ann, root, label_set=label_set)
    raise ValueError(f"unknown data set format {fmt!r}")


# ---------------------------------------------------------------------------------------------
# Image preparation: the app's aligner, cached.


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8; raises DatasetError if it cannot be decoded."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise DatasetError([f"{path}: cannot decode image"], "image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size x size (what unaligned inputs become)."""
    import cv2

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = image[y : y + s, x : x + s]
    if s == size:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def _template_name() -> str:
    try:
        from cer_desktop.vision import alignment

        return str(getattr(alignment, "TEMPLATE_NAME", "template"))
    except ImportError:
        return "template"


class ImagePreparer:
    """Turns image files into the crops the model sees, exactly as the app does.

    align="app": the app's `align_image(image, size)` (MediaPipe + the canonical template);
    crops are cached as PNG under `cache_dir`, keyed by image path, mtime, template and size.
    When no face is found the whole image is centre-cropped and resized instead, and counted
    in `no_face` (RAF-DB's own 100x100 aligned crops are sometimes too tight for MediaPipe).
    align="none": centre-crop + resize only (drawn synthetic faces, which MediaPipe does not
    find, and inputs that are already the app's crops).
    """

    def __init__(
        self, align: str = "app", crop_size: int = 224, cache_dir: str | Path | None = None
    ):
        if align not in ("app", "none"):
            raise ValueError(f"align must be app or none, not {align!r}")
        self.align = align
        self.crop_size = int(crop_size)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.template = _template_name() if align == "app" else "none"
        self.no_face: list[Path] = []
        self.cache_hits = 0
        self._align_fn = None

    def cache_key(self, path: Path) -> str:
        st = path.stat()
        ident = f"{path.resolve()}|{st.st_mtime_ns}|{self.template}|{self.crop_size}"
        return hashlib.sha1(ident.encode()).hexdigest()

    def _aligner(self):  # noqa: ANN202
        if self._align_fn is None:
            from cer_desktop.vision.alignment import align_image

            self._align_fn = align_image
        return self._align_fn

    def __call__(self, path: str | Path) -> np.ndarray:
        """The crop for one image file (RGB uint8, crop_size square)."""
        path = Path(path)
        if self.align == "none":
            return resize_square(read_rgb(path), self.crop_size)
        cached = None
        if self.cache_dir is not None:
            key = self.cache_key(path)
            cached = self.cache_dir / key[:2] / f"{key}.png"
            if cached.is_file():
                self.cache_hits += 1
                return read_rgb(cached)
        crop = self.prepare_array(read_rgb(path), path)
        if cached is not None:
            import cv2

            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.png")
            cv2.imwrite(str(tmp), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            tmp.replace(cached)  # atomic: parallel workers never read half a file
        return crop

    def prepare_array(self, image: np.ndarray, name: str | Path = "") -> np.ndarray:
        """Align an in-memory image (no cache)."""
        if self.align == "none":
            return resize_square(image, self.crop_size)
        crop = self._aligner()(image, self.crop_size)
        if crop is None:
            self.no_face.append(Path(name))
            return resize_square(image, self.crop_size)
        return np.ascontiguousarray(crop)
