"""Turning faces, a prompt and (for training) answers into model inputs, one way for all.

The answer's tokens are defined once (`answer_token_ids`): the tokens that follow the prompt
when the chat template renders the conversation with the answer, up to and including the
end-of-answer token. Training puts its loss on exactly those tokens and the scorer sums their
log-probabilities, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cer_desktop.contracts import Face, RecognizerError
from cer_desktop.labels import LabelSet
from cer_desktop.recognition.lvlm.prompts import PromptTemplate, build_messages

IGNORE_INDEX = -100
_SENTINEL = "QqZzANSWERzZqQ"


class EncodingError(RecognizerError):
    """The processor's chat template or tokenizer cannot encode the prompt or an answer."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Pixel limits for processors that resize by area (Qwen2-VL: `min_pixels`/`max_pixels`).

    With both at 224*224 a 224x224 face is 16x16 patches of 14 px, merged 2x2: 64 visual tokens.
    """

    min_pixels: int = 224 * 224
    max_pixels: int = 224 * 224

    def __post_init__(self) -> None:
        if not 0 < self.min_pixels <= self.max_pixels:
            raise EncodingError(
                f"image limits need 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}"
            )

    @classmethod
    def for_crop(cls, crop_size: int) -> ImageLimits:
        """Limits that keep a square crop of `crop_size` pixels at its own size."""
        return cls(crop_size * crop_size, crop_size * crop_size)


def tokenizer_of(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def _uses_pixel_limits(processor: Any) -> bool:
    """Qwen2-VL-style image processors resize by area and merge patches."""
    ip = getattr(processor, "image_processor", None)
    size = getattr(ip, "size", None)
    keys = set(size.keys()) if size is not None and hasattr(size, "keys") else set()
    return hasattr(ip, "merge_size") and {"shortest_edge", "longest_edge"} <= keys


def _tile_side(processor: Any) -> int | None:
    """The tile side of processors that cut large images into tiles (SmolVLM/Idefics3)."""
    ip = getattr(processor, "image_processor", None)
    tile = getattr(ip, "max_image_size", None)
    if not getattr(ip, "do_image_splitting", False) or not isinstance(tile, Mapping):
        return None
    side = tile.get("longest_edge")
    return int(side) if side else None


def image_kwargs(processor: Any, limits: ImageLimits | None) -> dict[str, Any]:
    """Keyword arguments for the processor call that apply `limits` where the processor has them.

    A tiling processor (SmolVLM2: longest edge to 2048 px, then 512-px tiles plus a global
    one) would blow a 224-px face up to 17 tiles, 1,088 image tokens; a face that fits one tile
    is sent as that one tile (64 tokens). Training encodes through here too, so both agree.
    """
    if limits is None:
        return {}
    tile = _tile_side(processor)
    if tile is not None and limits.max_pixels <= tile * tile:
        return {"do_image_splitting": False}
    if not _uses_pixel_limits(processor):
        return {}
    return {"size": {"shortest_edge": limits.min_pixels, "longest_edge": limits.max_pixels}}


def render_prompt(processor: Any, label_set: LabelSet, prompt: PromptTemplate) -> str:
    """The chat-template text of the user turn and the assistant's opening (generation prompt)."""
    try:
        return processor.apply_chat_template(
            build_messages(label_set, prompt), tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:  # a template error is the model's, shown to the user by name
        raise EncodingError(f"the processor's chat template failed: {exc}") from exc


def _render_with_answer(
    processor: Any, label_set: LabelSet, prompt: PromptTemplate, answer: str
) -> str:
    messages = build_messages(label_set, prompt)
    messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    try:
        return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    except Exception as exc:
        raise EncodingError(f"the processor's chat template failed: {exc}") from exc


def _special_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for tid, added in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items():
        if getattr(added, "special", False):
            ids.add(int(tid))
    return ids


def end_of_answer_ids(processor: Any) -> list[int]:
    """The token(s) that close an assistant answer, read from the chat template.

    The template renders an assistant turn; the first special token after the answer (for
    Qwen2-VL `<|im_end|>`) ends it, with any text between. A template that adds nothing
    special after the answer falls back to the tokenizer's end-of-sequence token.
    """
    tok = tokenizer_of(processor)
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]},
    ]
    try:
        text = processor.apply_chat_template(messages, tokenize=False)
    except Exception as exc:
        raise EncodingError(f"the processor's chat template failed: {exc}") from exc
    after = text.split(_SENTINEL, 1)[1] if _SENTINEL in text else ""
    ids = tok(after, add_special_tokens=False)["input_ids"] if after else []
    special = _special_ids(tok)
    for i, tid in enumerate(ids):
        if tid in special:
            return [int(t) for t in ids[: i + 1]]
    eos = getattr(tok, "eos_token_id", None)
    if eos is None:
        raise EncodingError("cannot tell the end of an answer: no special token after it, no EOS")
    return [int(eos)]


def answer_token_ids(
    processor: Any, label_set: LabelSet, prompt: PromptTemplate, answer: str
) -> list[int]:
    """The tokens of `answer` after the prompt, ending with the end-of-answer token(s)."""
    tok = tokenizer_of(processor)
    prompt_text = render_prompt(processor, label_set, prompt)
    full_text = _render_with_answer(processor, label_set, prompt, answer)
    p_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
    f_ids = tok(full_text, add_special_tokens=False)["input_ids"]
    if f_ids[: len(p_ids)] == p_ids:
        cont = list(f_ids[len(p_ids) :])
    elif full_text.startswith(prompt_text):
        # the answer merged with the prompt's last token: tokenise the rest on its own
        cont = list(tok(full_text[len(prompt_text) :], add_special_tokens=False)["input_ids"])
    else:
        raise EncodingError("the chat template renders the prompt differently with an answer")
    eoa = end_of_answer_ids(processor)
    for i in range(len(cont) - len(eoa) + 1):
        if cont[i : i + len(eoa)] == eoa and i > 0:
            return [int(t) for t in cont[: i + len(eoa)]]
    # templates that add nothing after the answer (LLaVA-1.5): the answer, then EOS
    answer_ids = [int(t) for t in cont if t not in _special_ids(tok)]
    if not answer_ids:
        raise EncodingError(f"answer {answer!r} encodes to no tokens")
    return answer_ids + eoa


def label_token_ids(processor: Any, label_set: LabelSet, prompt: PromptTemplate) -> list[list[int]]:
    """`answer_token_ids` of every label of the set, in order."""
    return [answer_token_ids(processor, label_set, prompt, label) for label in label_set.labels]


def _as_images(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, img in enumerate(images):
        a = np.asarray(img)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise EncodingError(f"image {i} must be RGB uint8 (H, W, 3), got {a.dtype} {a.shape}")
        out.append(np.ascontiguousarray(a))
    if not out:
        raise EncodingError("no images to encode")
    return out


def _special_tokens_kwargs(tokenizer: Any, text: str) -> dict[str, Any]:
    """No special tokens added when the chat template already wrote the BOS (Gemma 3).

    Gemma 3's template starts with `<bos>` and its tokenizer adds another by default; two BOS
    tokens put the model off the input it was trained on. Templates without a BOS (Qwen2-VL,
    LLaVA-1.5, whose tokenizer adds `<s>`) keep the tokenizer's default.
    """
    bos = getattr(tokenizer, "bos_token", None)
    return {"add_special_tokens": False} if bos and text.startswith(bos) else {}


def encode_prompts(
    processor: Any,
    images: Sequence[np.ndarray],
    label_set: LabelSet,
    prompt: PromptTemplate,
    limits: ImageLimits | None = None,
) -> Any:
    """One prompt per image, ready for `model(**batch)` (`BatchFeature`, torch tensors).

    Rows of different lengths (images of different sizes) are padded on the left, so the last
    position of every row is the prompt's last token.
    """
    imgs = _as_images(images)
    text = render_prompt(processor, label_set, prompt)
    tok = tokenizer_of(processor)
    old_side = getattr(tok, "padding_side", "right")
    tok.padding_side = "left"
    try:
        return processor(
            **_special_tokens_kwargs(tok, text),
            text=[text] * len(imgs),
            # one list per prompt: processors of interleaved families (SmolVLM, Gemma 3) read a
            # flat list as every image belonging to the first prompt; the others flatten it
            images=[[img] for img in imgs],
            padding=True,
            return_tensors="pt",
            **image_kwargs(processor, limits),
        )
    except EncodingError:
        raise
    except Exception as exc:
        raise EncodingError(f"the processor could not encode the faces: {exc}") from exc
    finally:
        tok.padding_side = old_side


def encode_training_batch(
    processor: Any,
    images: Sequence[np.ndarray],
    answers: Sequence[str],
    label_set: LabelSet,
    prompt: PromptTemplate,
    limits: ImageLimits | None = None,
) -> Any:
    """Prompt + answer per image, with `labels` (-100 except on the answer and end-of-answer).

    Rows are right-padded; `input_ids`, `attention_mask`, `labels` and any per-token
    processor outputs (`mm_token_type_ids`) share one length.
    """
    import torch

    if len(answers) != len(images):
        raise EncodingError(f"{len(images)} images but {len(answers)} answers")
    batch = encode_prompts(processor, images, label_set, prompt, limits)
    cache: dict[str, list[int]] = {}
    pad_id = tokenizer_of(processor).pad_token_id
    pad_id = 0 if pad_id is None else int(pad_id)
    mask = batch["attention_mask"].bool()
    per_token = [k for k, v in batch.items() if torch.is_tensor(v) and v.shape == mask.shape]
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in [*per_token, "labels"]}
    for i, answer in enumerate(answers):
        if answer not in cache:
            cache[answer] = answer_token_ids(processor, label_set, prompt, answer)
        ans = torch.tensor(cache[answer], dtype=batch["input_ids"].dtype)
        keep = mask[i]
        for k in per_token:
            v = batch[k][i][keep]
            if k == "input_ids":
                rows[k].append(torch.cat([v, ans]))
            else:  # attention 1, token type 0 (text) over the answer
                fill = 1 if k == "attention_mask" else 0
                rows[k].append(torch.cat([v, torch.full_like(ans, fill, dtype=v.dtype)]))
        prompt_len = int(keep.sum())
        rows["labels"].append(torch.cat([torch.full((prompt_len,), IGNORE_INDEX), ans]))
    length = max(len(r) for r in rows["input_ids"])
    for k, rs in rows.items():
        value = {"input_ids": pad_id, "labels": IGNORE_INDEX}.get(k, 0)
        padded = [torch.cat([r, torch.full((length - len(r),), value, dtype=r.dtype)]) for r in rs]
        batch[k] = torch.stack(padded)
    return batch


def square_crops(
    faces: Sequence[Face], size: int, error: type[RecognizerError] = RecognizerError
) -> list[np.ndarray]:
    """The faces' aligned crops at `size` x `size`, the input every LVLM tier sends.

    A crop that is not RGB uint8 raises `error`; one of another size is resized (area
    interpolation down, cubic up). Shared by the local and the remote recognizer.
    """
    import cv2

    crops = []
    for face in faces:
        img = np.asarray(face.aligned)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 2:
            raise error(
                f"face {face.track_id}: aligned crop must be RGB uint8, got {img.dtype} {img.shape}"
            )
        if img.shape[:2] != (size, size):
            interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
            img = cv2.resize(img, (size, size), interpolation=interp)
        crops.append(np.ascontiguousarray(img))
    return crops
