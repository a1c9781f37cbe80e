"""Qwen2-VL's real tokenizer, built from llama.cpp's `ggml-vocab-qwen2.gguf` (no model hub).

`scripts/fetch-qwen2-vocab.sh` puts the file (from the llama-cpp-python sdist on PyPI, pinned
and checksummed) in a cache folder; this module finds it, loads it with transformers' GGUF
reader (the `gguf` package) and turns it into Qwen2-VL's tokenizer: the 151,643 byte-level BPE
tokens and Qwen2's `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` as in the file, Qwen2-VL's
added tokens (`<|vision_start|>`, `<|image_pad|>`, ...) at their real ids where the file has
placeholders, NFC normalisation and Qwen2-VL-Instruct's chat template. The conversion takes
~30 s, so the result is saved once beside the file and loaded from there afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cer_desktop.settings import cache_dir

VOCAB_FILE = "ggml-vocab-qwen2.gguf"
VOCAB_SHA256 = "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c"
FETCH_HINT = "run scripts/fetch-qwen2-vocab.sh (it downloads llama-cpp-python's sdist from PyPI)"

# Qwen2-VL's added tokens and their ids (its tokenizer.json); the GGUF file has "[PADn]"
# placeholders from 151646 on, which the model's 151,936-row embedding covers.
QWEN2VL_ADDED = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}
QWEN2VL_VOCAB_SIZE = 151936  # the model's embedding rows (config.vocab_size)

# Qwen2-VL-2B-Instruct's chat template (images and videos, optional "Picture n:" ids).
QWEN2VL_INSTRUCT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class VocabUnavailable(RuntimeError):
    """The Qwen2 vocabulary file is missing, damaged, or the `gguf` package is not installed."""


def default_vocab_path() -> Path:
    """`$CER_QWEN2_VOCAB`, else `${XDG_CACHE_HOME:-~/.cache}/cer-desktop/vocab/<file>`."""
    if os.environ.get("CER_QWEN2_VOCAB"):
        return Path(os.environ["CER_QWEN2_VOCAB"]).expanduser()
    return cache_dir() / "vocab" / VOCAB_FILE


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_qwen2_vocab(path: str | Path | None = None) -> Path:
    """The checked vocabulary file; `VocabUnavailable` (with how to get it) when it is not there."""
    p = Path(path) if path is not None else default_vocab_path()
    if not p.is_file():
        raise VocabUnavailable(f"Qwen2 vocabulary not found at {p}: {FETCH_HINT}")
    if _sha256(p) != VOCAB_SHA256:
        raise VocabUnavailable(f"{p} is not the expected ggml-vocab-qwen2.gguf: {FETCH_HINT}")
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files with it)
    except ImportError as exc:
        raise VocabUnavailable("the `gguf` package is not installed (test extra)") from exc
    return p


def _qwen2vl_tokenizer_json(
    raw: str, added: dict[str, int] | None = None, special: tuple[str, ...] | None = None
) -> str:
    """The GGUF tokenizer's JSON with `added` (default Qwen2-VL's) in place of the placeholders.

    `special` names the added tokens that are special (default: all of them).
    """
    added = QWEN2VL_ADDED if added is None else added
    special = tuple(added) if special is None else special
    data = json.loads(raw)
    vocab: dict[str, int] = data["model"]["vocab"]
    by_id = {i: tok for tok, i in vocab.items()}
    n_real = max(added.values()) + 1  # 151657 tokens for Qwen2-VL, 151669 for Qwen3
    for token, i in added.items():
        old = by_id.get(i)
        if old is not None and old != token:
            del vocab[old]
        vocab[token] = i
    for i in range(n_real, max(by_id) + 1):  # the unused placeholders: the real ones have none
        if i in by_id and by_id[i].startswith("[PAD"):
            vocab.pop(by_id[i], None)
    data["added_tokens"] = [
        {
            "id": i,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": token in special,
        }
        for token, i in added.items()
    ]
    data["normalizer"] = {"type": "NFC"}  # as Qwen2's tokenizer.json
    return json.dumps(data, ensure_ascii=False)


def _convert(
    gguf_path: Path,
    out: Path,
    added: dict[str, int] | None = None,
    special: tuple[str, ...] | None = None,
    template: str = QWEN2VL_INSTRUCT_TEMPLATE,
) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    added = QWEN2VL_ADDED if added is None else added
    special = tuple(added) if special is None else special
    loaded = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    backend = Tokenizer.from_str(
        _qwen2vl_tokenizer_json(loaded.backend_tokenizer.to_str(), added, special)
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=[t for t in special if t != "<|endoftext|>"],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = template
    for token, i in added.items():
        got = tokenizer.convert_tokens_to_ids(token)
        if got != i:
            raise VocabUnavailable(f"{token} converted to id {got}, not the real {i}")
    part = out.with_name(out.name + f".part{os.getpid()}")
    tokenizer.save_pretrained(str(part))
    part.replace(out)


def qwen2vl_tokenizer(path: str | Path | None = None) -> Any:
    """Qwen2-VL's tokenizer from the real Qwen2 vocabulary (converted once, then cached)."""
    from transformers import AutoTokenizer

    gguf_path = find_qwen2_vocab(path)
    out = gguf_path.with_name("qwen2-vl-tokenizer-" + VOCAB_SHA256[:12])
    if not (out / "tokenizer.json").is_file():
        _convert(gguf_path, out)
    return AutoTokenizer.from_pretrained(str(out))


def qwen_tokenizer(
    added: dict[str, int],
    special: tuple[str, ...],
    template: str,
    name: str,
    path: str | Path | None = None,
) -> Any:
    """A Qwen-family tokenizer on the real Qwen2 vocabulary with `added` tokens at their ids.

    Qwen2.5 and Qwen3(-VL) keep Qwen2's 151,643 BPE tokens and add more tokens after them;
    `name` keys the cached conversion (e.g. "qwen3-vl").
    """
    from transformers import AutoTokenizer

    gguf_path = find_qwen2_vocab(path)
    out = gguf_path.with_name(f"{name}-tokenizer-" + VOCAB_SHA256[:12])
    if not (out / "tokenizer.json").is_file():
        _convert(gguf_path, out, added, special, template)
    return AutoTokenizer.from_pretrained(str(out))


def qwen2vl_processor(
    path: str | Path | None = None, face_pixels: int = 224 * 224, tokenizer: Any = None
) -> Any:
    """A `Qwen2VLProcessor` with the real tokenizer, sized for one face of `face_pixels`."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    limits = {"shortest_edge": face_pixels, "longest_edge": face_pixels}
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=limits),
        tokenizer=tokenizer if tokenizer is not None else qwen2vl_tokenizer(path),
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN2VL_INSTRUCT_TEMPLATE,
    )
