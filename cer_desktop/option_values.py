"""The project's small vocabularies, one definition and one function each: quantisation and
dtype names (and their spellings), devices, image and video file suffixes.

Pure names, nothing heavy: settings, the GUI, training and the recognizers all read them
here. What a name means at run time (which torch dtype "auto" becomes on this machine) is
decided in one place too: `cer_desktop.recognition.lvlm.loading.resolve_dtype` and
`resolve_device`, used by the app and by training alike.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Quantisation of a base model: none (weights in the dtype), nf4 (4-bit NormalFloat with
#: double quantisation, QLoRA), int8.
QUANTS = ("none", "nf4", "int8")
_QUANT_ALIASES = {"4bit": "nf4", "bnb4": "nf4", "8bit": "int8", "": "none"}

#: Weight or compute dtype. "auto" means one thing everywhere (app, annotate, training): the
#: fastest dtype the device computes natively — bf16 on CUDA (fp16 where bf16 is not
#: supported), fp16 on MPS, bf16 on a CPU with native bf16 (AVX512-BF16/AMX), else fp32.
DTYPES = ("auto", "bf16", "fp16", "fp32")
_DTYPE_ALIASES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "float": "fp32",
    "": "auto",
}

#: Devices: auto (cuda when available, then mps, else cpu), cpu, cuda, cuda:N, mps.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

#: Files a folder of images may hold (read with OpenCV or PIL).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: Video files the app and `cer annotate` open (PyAV / FFmpeg).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)


class VocabularyError(ValueError):
    """A name that is not in its vocabulary (the message lists the valid ones)."""


def quant_name(name: str | None) -> str:
    """The canonical quantisation name for `name` ("4bit" -> "nf4"; None -> "none")."""
    q = (name or "none").strip().lower()
    q = _QUANT_ALIASES.get(q, q)
    if q not in QUANTS:
        raise VocabularyError(f"quantisation {name!r} unknown; choose {', '.join(QUANTS)}")
    return q


def dtype_name(name: str | None) -> str:
    """The canonical dtype name for `name` ("bfloat16" -> "bf16"; None -> "auto")."""
    d = (name or "auto").strip().lower()
    d = _DTYPE_ALIASES.get(d, d)
    if d not in DTYPES:
        raise VocabularyError(f"dtype {name!r} unknown; choose {', '.join(DTYPES)}")
    return d


def device_name(name: str | None) -> str:
    """`name` checked against the device vocabulary (None -> "auto")."""
    d = (name or "auto").strip().lower()
    if not DEVICE_PATTERN.match(d):
        raise VocabularyError(f"device {name!r} unknown; choose auto, cpu, cuda, cuda:N, mps")
    return d


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def needs_base_model(options: dict[str, object]) -> str | None:
    """The one error both command lines (`cer-desktop`, `cer annotate`) give for options of a
    local model given without the model: "--adapter needs --model BASE" for the first option
    (name -> value) that was given, None when none was. Ignoring them would run another tier.
    """
    given = [name for name, value in options.items() if value is not None]
    return f"{given[0]} needs --model BASE" if given else None
