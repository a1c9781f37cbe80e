"""`cer_adapter.json`: what an adapter was trained on, so the app feeds it the same inputs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cer_desktop.contracts import RecognizerError
from cer_desktop.labels import LabelSet, LabelSetError
from cer_desktop.recognition.lvlm.encoding import ImageLimits
from cer_desktop.recognition.lvlm.prompts import PromptError, PromptTemplate

METADATA_FILE = "cer_adapter.json"
FORMAT_VERSION = 1


class MetadataError(RecognizerError):
    """An adapter's `cer_adapter.json` that cannot be read or used."""


@dataclass(frozen=True)
class AdapterMetadata:
    """Inputs an adapter was trained with: label set, prompt, alignment, crop, pixel limits."""

    label_set: str
    labels: tuple[str, ...]
    prompt_id: str
    prompt_text: str
    alignment: str = "mediapipe_5pt"
    crop_size: int = 224
    min_pixels: int = 224 * 224
    max_pixels: int = 224 * 224
    base_model: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not 16 <= int(self.crop_size) <= 2048:
            raise MetadataError(f"crop_size {self.crop_size} is out of range (16..2048)")
        self.to_label_set()
        self.to_prompt()
        self.to_limits()

    @classmethod
    def create(
        cls,
        label_set: LabelSet,
        prompt: PromptTemplate,
        *,
        crop_size: int = 224,
        limits: ImageLimits | None = None,
        alignment: str = "mediapipe_5pt",
        base_model: str = "",
        recipe: dict[str, Any] | None = None,
    ) -> AdapterMetadata:
        """Metadata for an adapter trained on `label_set` with `prompt`."""
        limits = limits or ImageLimits.for_crop(crop_size)
        return cls(
            label_set=label_set.name,
            labels=label_set.labels,
            prompt_id=prompt.id,
            prompt_text=prompt.text,
            alignment=alignment,
            crop_size=crop_size,
            min_pixels=limits.min_pixels,
            max_pixels=limits.max_pixels,
            base_model=base_model,
            recipe=dict(recipe or {}),
        )

    def to_label_set(self) -> LabelSet:
        """The label set (the built-in object when name and labels match a built-in)."""
        from cer_desktop.labels import BUILTIN

        builtin = BUILTIN.get(self.label_set)
        if builtin is not None and builtin.labels == tuple(self.labels):
            return builtin
        try:
            return LabelSet(self.label_set, tuple(self.labels), self.label_set)
        except LabelSetError as exc:
            raise MetadataError(f"adapter metadata: {exc}") from exc

    def to_prompt(self) -> PromptTemplate:
        try:
            return PromptTemplate(self.prompt_id, self.prompt_text)
        except PromptError as exc:
            raise MetadataError(f"adapter metadata: {exc}") from exc

    def to_limits(self) -> ImageLimits:
        try:
            return ImageLimits(int(self.min_pixels), int(self.max_pixels))
        except RecognizerError as exc:
            raise MetadataError(f"adapter metadata: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    def write(self, folder: str | Path) -> Path:
        """Write `cer_adapter.json` into `folder` (beside PEFT's files); returns its path."""
        path = Path(folder) / METADATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        return path


def read_metadata(folder: str | Path) -> AdapterMetadata | None:
    """The adapter's metadata, or None when the folder has no `cer_adapter.json`."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise MetadataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise MetadataError(f"{path} does not hold a JSON object")
    known = set(AdapterMetadata.__dataclass_fields__)
    missing = {"label_set", "labels", "prompt_id", "prompt_text"} - set(data)
    if missing:
        raise MetadataError(f"{path} lacks {', '.join(sorted(missing))}")
    try:
        return AdapterMetadata(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise MetadataError(f"{path}: {exc}") from exc
