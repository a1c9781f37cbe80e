"""Procedurally drawn expression faces, written in the RAF-DB and C-EXPR-DB layouts.

Each class combines facial features (brows, eyes, mouth, nose wrinkle) after its prototypical
action units (docs/architecture.md), so a compound shares features with the basic classes it
mixes, which stage 1 can pass on to stage 2; all else (colours, position, size, rotation, line
width, intensity, noise) is random. Styles: "filled" (training) and "sketch" (outline drawing,
other proportions; zero-shot tests). MediaPipe's mesh on drawings measures nothing, so recipes
on this data use ``align: none``; the aligner's path through training is tested on photos.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer_desktop.labels import C_EXPR, RAF_BASIC, RAF_COMPOUND, LabelSet

STYLES = ("filled", "sketch")


@dataclass(frozen=True, slots=True)
class Features:
    """What tells one class from another."""

    brows: str  # flat | raised (AU1+2) | lowered (AU4) | sad (AU1+4, inner ends up)
    eyes: str  # normal | wide (AU5) | squint (AU7)
    mouth: str  # line | smile | smile_open | open | frown | stretch | sneer | tight
    wrinkle: bool = False  # nose wrinkle (AU9/10)


FEATURES: dict[str, Features] = {
    # basic
    "Surprise": Features("raised", "wide", "open"),
    "Fear": Features("sad", "wide", "stretch"),
    "Disgust": Features("flat", "squint", "sneer", True),
    "Happiness": Features("flat", "normal", "smile"),
    "Sadness": Features("sad", "normal", "frown"),
    "Anger": Features("lowered", "squint", "tight"),
    "Neutral": Features("flat", "normal", "line"),
    # compound: the features of the two basics they mix
    "Happily Surprised": Features("raised", "wide", "smile_open"),
    "Happily Disgusted": Features("flat", "normal", "smile", True),
    "Sadly Fearful": Features("sad", "wide", "stretch"),
    "Sadly Angry": Features("lowered", "squint", "frown"),
    "Sadly Surprised": Features("sad", "normal", "open"),
    "Sadly Disgusted": Features("lowered", "normal", "sneer", True),
    "Fearfully Angry": Features("lowered", "wide", "stretch"),
    "Fearfully Surprised": Features("raised", "wide", "stretch"),
    "Angrily Surprised": Features("lowered", "wide", "open"),
    "Angrily Disgusted": Features("lowered", "squint", "sneer", True),
    "Disgustedly Surprised": Features("raised", "wide", "sneer", True),
}


def features_of(label: str) -> Features:
    """The drawn features of a label (spelling folded like LabelSet.index)."""
    key = label.strip().replace("_", " ").lower()
    for name, feats in FEATURES.items():
        if name.lower() == key:
            return feats
    raise KeyError(f"no drawing for label {label!r}")


def _rand_colour(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    return tuple(int(x) for x in rng.integers(lo, hi, size=3))  # type: ignore[return-value]


def draw_face(
    label: str, rng: np.random.Generator, *, size: int = 64, style: str = "filled"
) -> np.ndarray:
    """One RGB uint8 face of `label`, size x size, with random nuisance factors."""
    return draw_features(features_of(label), rng, size=size, style=style)


BROWS = ("flat", "raised", "lowered", "sad")
EYES = ("normal", "wide", "squint")
MOUTHS = ("line", "smile", "smile_open", "open", "frown", "stretch", "sneer", "tight")


def random_features(rng: np.random.Generator) -> Features:
    """Any combination of parts (most are no class at all): for generic pre-training."""
    return Features(
        BROWS[int(rng.integers(len(BROWS)))],
        EYES[int(rng.integers(len(EYES)))],
        MOUTHS[int(rng.integers(len(MOUTHS)))],
        bool(rng.integers(2)),
    )


def draw_features(
    feats: Features, rng: np.random.Generator, *, size: int = 64, style: str = "filled"
) -> np.ndarray:
    """One RGB uint8 face with the given parts, size x size, random nuisance factors."""
    import cv2

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    ss = 4  # draw 4x larger, then shrink: anti-aliased lines at any size
    S = size * ss
    sketch = style == "sketch"

    if sketch:
        paper = int(rng.integers(215, 256))
        img = np.full((S, S, 3), paper, np.uint8)
        img[:] = np.clip(img.astype(int) + rng.integers(-15, 15, size=3), 0, 255).astype(np.uint8)
        pen = _rand_colour(rng, 0, 110)
    else:
        top = np.array(_rand_colour(rng, 0, 256), float)
        bottom = np.array(_rand_colour(rng, 0, 256), float)
        ramp = np.linspace(0, 1, S)[:, None, None]
        img = (top * (1 - ramp) + bottom * ramp).repeat(S, axis=1).astype(np.uint8)
        pen = _rand_colour(rng, 0, 70)

    scale = rng.uniform(0.74, 0.9) if not sketch else rng.uniform(0.72, 0.88)
    fw = S * scale * (rng.uniform(0.72, 0.86) if not sketch else rng.uniform(0.8, 0.95))
    fh = S * scale
    cx = S / 2 + rng.uniform(-0.04, 0.04) * S
    cy = S / 2 + rng.uniform(-0.04, 0.04) * S
    lw = max(1, int(round(S * rng.uniform(0.026, 0.036))))

    def P(u: float, v: float) -> tuple[int, int]:
        # face-relative units: u in [-1, 1] across the width, v in [-1, 1] down the height
        return int(round(cx + u * fw / 2)), int(round(cy + v * fh / 2))

    def poly(points: list[tuple[float, float]], thick: int = lw, closed: bool = False) -> None:
        pts = np.array([P(u, v) for u, v in points], np.int32)
        cv2.polylines(img, [pts], closed, pen, thick, cv2.LINE_AA)

    # head
    if sketch:
        head = _rand_colour(rng, 0, 120)
        r = fw * 0.35  # rounded rectangle: a different silhouette from the filled ellipse
        outline = []
        for qx, qy, start in ((1, 1, 0), (-1, 1, 90), (-1, -1, 180), (1, -1, 270)):
            ccx, ccy = cx + qx * (fw / 2 - r), cy + qy * (fh / 2 - r)
            for t in np.linspace(0, 90, 7):
                a = np.deg2rad(start + t)
                outline.append((ccx + r * np.cos(a), ccy + r * np.sin(a)))
        cv2.polylines(img, [np.array(outline, np.int32)], True, head, lw, cv2.LINE_AA)
    else:
        skin = _rand_colour(rng, 60, 256)
        cv2.ellipse(
            img, (int(cx), int(cy)), (int(fw / 2), int(fh / 2)), 0, 0, 360, skin, -1, cv2.LINE_AA
        )
        if rng.random() < 0.5:  # hair band of random colour, another nuisance
            hair = _rand_colour(rng, 0, 256)
            cv2.ellipse(
                img,
                (int(cx), int(cy - fh * 0.05)),
                (int(fw / 2), int(fh / 2)),
                0,
                200,
                340,
                hair,
                lw * 3,
                cv2.LINE_AA,
            )

    j = lambda a: a * rng.uniform(0.8, 1.2)  # noqa: E731 - intensity jitter per feature
    ex = 0.38 if not sketch else 0.42  # eye spacing
    ey = -0.12 if not sketch else -0.05
    er = 0.14 if not sketch else 0.12  # eye radius (fraction of width/2)

    # eyes
    for side in (-1, 1):
        c = P(side * ex, ey)
        rx = int(er * fw / 2)
        if feats.eyes == "wide":
            ry = int(rx * j(1.25))
        elif feats.eyes == "squint":
            ry = max(1, int(rx * j(0.28)))
        else:
            ry = int(rx * j(0.7))
        rx = int(rx * (1.15 if feats.eyes == "wide" else 1.0))
        if sketch:
            cv2.ellipse(img, c, (rx, max(ry, 1)), 0, 0, 360, pen, lw, cv2.LINE_AA)
            cv2.circle(img, c, max(1, lw), pen, -1, cv2.LINE_AA)
        else:
            cv2.ellipse(img, c, (rx, max(ry, 1)), 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
            cv2.ellipse(img, c, (rx, max(ry, 1)), 0, 0, 360, pen, max(1, lw // 2), cv2.LINE_AA)
            cv2.circle(img, c, max(2, int(min(rx, ry) * 0.6)), pen, -1, cv2.LINE_AA)

    # brows: (inner, outer) heights relative to the eye, negative = up
    by = ey - er * 1.1 - 0.08
    shapes = {
        "flat": (0.0, 0.0),
        "raised": (-j(0.13), -j(0.13)),
        "lowered": (j(0.09), -j(0.03)),
        "sad": (-j(0.12), j(0.05)),
    }
    inner, outer = shapes[feats.brows]
    bt = lw + (0 if sketch else max(1, lw // 2))
    for side in (-1, 1):
        xi, xo = side * (ex - 0.16), side * (ex + 0.2)
        if feats.brows == "raised":  # arched
            poly([(xi, by + inner), (side * ex, by + inner - 0.04), (xo, by + outer)], bt)
        else:
            poly([(xi, by + inner), (xo, by + outer)], bt)

    # nose (and its wrinkle)
    if sketch:
        poly([(0.0, 0.0), (-0.06, 0.22), (0.04, 0.24)], max(1, lw - 1))
    else:
        poly([(-0.04, 0.18), (0.04, 0.18)], max(1, lw - 1))
    if feats.wrinkle:
        for k in range(3):
            v = 0.02 + 0.05 * k
            poly([(-0.1, v), (-0.03, v + 0.02)], max(1, lw - 1))
            poly([(0.1, v), (0.03, v + 0.02)], max(1, lw - 1))

    # mouth
    my = 0.48 if not sketch else 0.5
    mw = j(0.28)
    m = feats.mouth
    if m == "line":
        poly([(-mw, my), (mw, my)])
    elif m == "tight":
        poly([(-mw * 0.6, my), (mw * 0.6, my)], lw * 2)
    elif m in ("smile", "frown"):
        d = j(0.12) * (1 if m == "smile" else -1)
        poly(
            [
                (-mw * 1.1, my - d),
                (-mw * 0.5, my + d * 0.4),
                (0, my + d * 0.6),
                (mw * 0.5, my + d * 0.4),
                (mw * 1.1, my - d),
            ]
        )
    elif m == "smile_open":
        d = j(0.1)
        upper = [(-mw * 1.1, my - d), (0, my), (mw * 1.1, my - d)]
        lower = [(mw * 1.1, my - d), (mw * 0.5, my + 0.16), (0, my + 0.2), (-mw * 0.5, my + 0.16)]
        pts = np.array([P(u, v) for u, v in upper + lower], np.int32)
        cv2.fillPoly(img, [pts], pen, cv2.LINE_AA) if not sketch else cv2.polylines(
            img, [pts], True, pen, lw, cv2.LINE_AA
        )
    elif m == "open":
        rx, ry = int(mw * 0.55 * fw / 2), int(j(0.15) * fh / 2)
        c = P(0, my + 0.04)
        if sketch:
            cv2.ellipse(img, c, (rx, ry), 0, 0, 360, pen, lw, cv2.LINE_AA)
        else:
            cv2.ellipse(img, c, (rx, ry), 0, 0, 360, pen, -1, cv2.LINE_AA)
    elif m == "stretch":
        h = j(0.06)
        pts = np.array(
            [
                P(-mw * 1.3, my),
                P(-mw, my - h),
                P(mw, my - h),
                P(mw * 1.3, my),
                P(mw, my + h),
                P(-mw, my + h),
            ],
            np.int32,
        )
        cv2.fillPoly(img, [pts], pen, cv2.LINE_AA) if not sketch else cv2.polylines(
            img, [pts], True, pen, lw, cv2.LINE_AA
        )
    elif m == "sneer":
        # upper lip pulled up on one side (random side), lower lip flat
        s = 1 if rng.random() < 0.5 else -1
        poly([(-mw, my + 0.03), (0, my - 0.02), (s * mw * 0.5, my - j(0.09)), (s * mw, my)])
        poly([(-mw, my + 0.05), (mw, my + 0.05)])
    else:  # pragma: no cover - FEATURES only uses the names above
        raise ValueError(m)

    # global nuisance: small rotation, shrink (anti-aliasing), noise
    angle = rng.uniform(-6, 6)
    M = cv2.getRotationMatrix2D((S / 2, S / 2), angle, 1.0)
    border = tuple(int(x) for x in img[0, 0])
    rotated = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderValue=border)
    small = cv2.resize(rotated, (size, size), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0, 8)
    noisy = small.astype(np.float32) + rng.normal(0, sigma, small.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _write(path: Path, image: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(
        str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
    ):
        raise OSError(f"cannot write {path}")


def write_rafdb(
    root: str | Path,
    label_set: LabelSet,
    *,
    n_train: int,
    n_test: int,
    size: int = 64,
    style: str = "filled",
    seed: int = 0,
) -> Path:
    """A RAF-DB-layout folder: EmoLabel/list_patition_label.txt, Image/aligned and Image/original.

    `n_train`/`n_test` are images per class. The "original" image is the same face on a
    larger canvas (as RAF-DB's originals are uncropped photos).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    lines = []
    for split, n in (("train", n_train), ("test", n_test)):
        order = [i for i in range(len(label_set)) for _ in range(n)]
        rng.shuffle(order)
        for k, label in enumerate(order, start=1):
            name = f"{split}_{k:05d}.jpg"
            face = draw_face(label_set.labels[label], rng, size=size, style=style)
            _write(root / "Image" / "aligned" / f"{split}_{k:05d}_aligned.jpg", face)
            pad = size // 4
            border = tuple(int(x) for x in face[0, 0])
            import cv2

            original = cv2.copyMakeBorder(
                face, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=border
            )
            _write(root / "Image" / "original" / name, original)
            lines.append(f"{name} {label + 1}")
    (root / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    return root


def write_cexpr(
    root: str | Path,
    *,
    n_videos_per_class: int,
    frames_per_video: int,
    size: int = 64,
    style: str = "sketch",
    seed: int = 1,
    label_set: LabelSet = C_EXPR,
) -> Path:
    """A C-EXPR-DB-layout folder: <video>/<frame>.jpg and labels.csv (`video/frame.jpg,Label`)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    v = 0
    for label in range(len(label_set)):
        for _ in range(n_videos_per_class):
            v += 1
            video = f"{v:03d}"
            for f in range(1, frames_per_video + 1):
                face = draw_face(label_set.labels[label], rng, size=size, style=style)
                _write(root / video / f"{f:05d}.jpg", face)
                rows.append((f"{video}/{f:05d}.jpg", label_set.labels[label].replace(" ", "_")))
    with (root / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image_location", "label"])
        w.writerows(rows)
    return root


def write_synthetic(
    out: str | Path,
    *,
    n_train: int = 60,
    n_test: int = 20,
    n_zero_shot_videos: int = 3,
    frames_per_video: int = 5,
    size: int = 64,
    seed: int = 0,
) -> dict[str, Path]:
    """The full synthetic set: basic/ and compound/ (RAF-DB layout, "filled" style) and
    cexpr/ (C-EXPR-DB layout, "sketch" style, for zero-shot tests). Counts are per class."""
    out = Path(out)
    found = {
        name: write_rafdb(out / name, ls, n_train=n_train, n_test=n_test, size=size, seed=seed + i)
        for i, (name, ls) in enumerate((("basic", RAF_BASIC), ("compound", RAF_COMPOUND)))
    }
    found["cexpr"] = write_cexpr(
        out / "cexpr", n_videos_per_class=n_zero_shot_videos, frames_per_video=frames_per_video,
        size=size, seed=seed + 2,
    )  # fmt: skip
    return found


def contact_sheet(
    label_set: LabelSet, *, per_class: int = 6, size: int = 64, style: str = "filled", seed: int = 0
) -> np.ndarray:
    """A grid image, one row per class, to eyeball the drawings."""
    rng = np.random.default_rng(seed)
    rows = [
        np.concatenate(
            [draw_face(lab, rng, size=size, style=style) for _ in range(per_class)], axis=1
        )
        for lab in label_set.labels
    ]
    return np.concatenate(rows, axis=0)
