"""Data set readers on tiny fixture trees laid out like the real data sets, broken lines too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cer_desktop.labels import C_EXPR, RAF_BASIC, RAF_COMPOUND
from cer_desktop.training.datasets import (
    DatasetError,
    ImagePreparer,
    read_cexpr,
    read_folder,
    read_labels_csv,
    read_rafdb,
)


def _img(path: Path, value: int = 128, size: int = 32) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))
    return path


def _rafdb(root: Path, lines: list[str], images: list[str]) -> Path:
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for name in images:
        stem = Path(name).stem
        _img(root / "Image" / "aligned" / f"{stem}_aligned.jpg")
        _img(root / "Image" / "original" / name)
    return root


def test_rafdb_basic_reads_splits_and_both_variants(tmp_path: Path) -> None:
    # given RAF-DB basic's layout with two train and one test image
    root = _rafdb(
        tmp_path / "basic",
        ["train_00001.jpg 5", "train_00002.jpg 1", "test_0001.jpg 7"],
        ["train_00001.jpg", "train_00002.jpg", "test_0001.jpg"],
    )
    # when reading the train split, aligned variant
    data = read_rafdb(root, "train")
    # then ids are 1-based into RAF-DB basic and paths point at <stem>_aligned.jpg
    assert data.label_set is RAF_BASIC
    assert [(s.path.name, RAF_BASIC.labels[s.label]) for s in data.samples] == [
        ("train_00001_aligned.jpg", "Sadness"),
        ("train_00002_aligned.jpg", "Surprise"),
    ]
    test = read_rafdb(root, "test", variant="original")
    assert [s.path.name for s in test.samples] == ["test_0001.jpg"]
    assert test.samples[0].label == RAF_BASIC.index("Neutral")


def test_rafdb_compound_folder_is_recognised(tmp_path: Path) -> None:
    root = _rafdb(tmp_path / "compound", ["train_0001.jpg 11"], ["train_0001.jpg"])
    data = read_rafdb(root, "train")
    assert data.label_set is RAF_COMPOUND
    assert RAF_COMPOUND.labels[data.samples[0].label] == "Disgustedly Surprised"


def test_rafdb_broken_lines_are_all_reported_with_file_and_line(tmp_path: Path) -> None:
    # given a label file with a malformed line, an unknown id, a missing image and a duplicate
    root = _rafdb(
        tmp_path / "basic",
        [
            "train_00001.jpg 5",
            "train_00002.jpg",  # line 2: no label
            "train_00003.jpg 9",  # line 3: id outside 1..7
            "train_00004.jpg 2",  # line 4: image missing
            "train_00001.jpg 5",  # line 5: listed twice
        ],
        ["train_00001.jpg", "train_00002.jpg", "train_00003.jpg"],
    )
    # when reading it, then one error lists every problem with file:line
    with pytest.raises(DatasetError) as info:
        read_rafdb(root, "train")
    msg = str(info.value)
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    assert len(info.value.problems) == 4, msg
    for line, what in ((2, "expected"), (3, "unknown label id 9"), (4, "not found"), (5, "twice")):
        assert f"{label_file}:{line}: " in msg and what in msg, (
            f"line {line} ({what}) missing: {msg}"
        )


def test_rafdb_without_label_file_is_a_named_error(tmp_path: Path) -> None:
    (tmp_path / "basic").mkdir()
    with pytest.raises(DatasetError, match="label file not found"):
        read_rafdb(tmp_path / "basic")


def test_cexpr_frames_with_labels_csv(tmp_path: Path) -> None:
    # given C-EXPR-DB frames <video>/<frame>.jpg and a CSV of video/frame.jpg,Label
    _img(tmp_path / "v001" / "00001.jpg")
    _img(tmp_path / "v001" / "00002.jpg")
    _img(tmp_path / "v002" / "00001.jpg")
    (tmp_path / "labels.csv").write_text(
        "image_location,label\n"
        "v001/00001.jpg,Fearfully_Surprised\n"
        "v001/00002.jpg,Sadly Angry\n"
        "v002/00001.jpg,3\n"
    )
    data = read_cexpr(tmp_path, "labels.csv")
    assert [(s.key, C_EXPR.labels[s.label]) for s in data.samples] == [
        ("v001/00001.jpg", "Fearfully Surprised"),
        ("v001/00002.jpg", "Sadly Angry"),
        ("v002/00001.jpg", "Disgustedly Surprised"),
    ]


def test_cexpr_broken_rows_are_reported(tmp_path: Path) -> None:
    _img(tmp_path / "v001" / "00001.jpg")
    (tmp_path / "labels.csv").write_text(
        "image_location,label\n"
        "v001/00001.jpg,Happily_Disgusted\n"  # line 2: not a C-EXPR-DB label
        "v001/00002.jpg,Sadly_Angry\n"  # line 3: no such frame
        "v001/00001.jpg\n"  # line 4: no label
        "v001/00001.jpg,7\n"  # line 5: index outside 0..6
    )
    with pytest.raises(DatasetError) as info:
        read_cexpr(tmp_path, "labels.csv")
    msg = str(info.value)
    csv_path = tmp_path / "labels.csv"
    for line in (2, 3, 4, 5):
        assert f"{csv_path}:{line}: " in msg, f"line {line} not reported: {msg}"


def test_folder_per_class_and_unknown_folder(tmp_path: Path) -> None:
    _img(tmp_path / "Happiness" / "a.png")
    _img(tmp_path / "neutral" / "b.jpg")  # case-insensitive
    data = read_folder(tmp_path, label_set=RAF_BASIC)
    assert sorted(RAF_BASIC.labels[s.label] for s in data.samples) == ["Happiness", "Neutral"]
    _img(tmp_path / "Bored" / "c.jpg")
    with pytest.raises(DatasetError, match="'Bored' is not a label"):
        read_folder(tmp_path, label_set=RAF_BASIC)


def test_generic_csv_relative_paths(tmp_path: Path) -> None:
    _img(tmp_path / "imgs" / "x.jpg")
    (tmp_path / "train.csv").write_text("imgs/x.jpg,Anger\nimgs/y.jpg,Anger\n")
    with pytest.raises(DatasetError, match=r"train.csv:2: image .* not found"):
        read_labels_csv(tmp_path / "train.csv", label_set=RAF_BASIC)


def test_preparer_without_aligner_resizes_to_the_crop(tmp_path: Path) -> None:
    path = _img(tmp_path / "a.png", size=40)
    crop = ImagePreparer("none", 28)(path)
    assert crop.shape == (28, 28, 3) and crop.dtype == np.uint8


def test_undecodable_image_is_a_named_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="cannot decode"):
        ImagePreparer("none", 28)(bad)


def test_app_aligner_path_and_cache_on_a_real_face(tmp_path: Path, astronaut: np.ndarray) -> None:
    import cv2

    # given a real photo (MediaPipe finds the astronaut) and a crop cache
    path = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    prep = ImagePreparer("app", 64, tmp_path / "cache")
    # when preparing it twice
    first = prep(path)
    second = prep(path)
    # then the face was found and aligned, and the second read came from the cache
    assert first.shape == (64, 64, 3)
    assert not prep.no_face, "MediaPipe should find the astronaut's face"
    assert prep.cache_hits == 1
    assert np.abs(first.astype(int) - second.astype(int)).mean() < 1.0, "cache is lossless PNG"
    # and the crop is the app's alignment, not a plain resize of the photo
    plain = cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(first.astype(int) - plain.astype(int)).mean() > 10
