"""Training data for `cer train`: the recipe's data set read and prepared through the app's
aligner, as a torch data set and the collator that encodes batches with the app's prompt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cer_desktop.labels import LabelSet, get_label_set
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_training_batch
from cer_desktop.recognition.lvlm.prompts import PromptTemplate
from cer_desktop.training.datasets import ImagePreparer, LabeledImages, read_dataset
from cer_desktop.training.recipe import Recipe

log = logging.getLogger(__name__)


class FaceDataset(torch.utils.data.Dataset):
    """(aligned crop, answer) pairs; crops come from the preparer (cached on disk)."""

    def __init__(self, data: LabeledImages, preparer: ImagePreparer, label_set: LabelSet):
        self.data = data
        self.preparer = preparer
        self.label_set = label_set

    def __len__(self) -> int:
        return len(self.data.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.data.samples[i]
        return {"image": self.preparer(s.path), "answer": self.label_set.labels[s.label]}


@dataclass
class TrainingCollator:
    """Batches through the app's `encode_training_batch` (labels only on answer + end)."""

    processor: Any
    label_set: LabelSet
    prompt: PromptTemplate
    limits: ImageLimits | None

    def __call__(self, items: list[dict[str, Any]]) -> Any:
        return encode_training_batch(
            self.processor,
            [it["image"] for it in items],
            [it["answer"] for it in items],
            self.label_set,
            self.prompt,
            self.limits,
        )


def prepare_all(data: LabeledImages, preparer: ImagePreparer, progress: bool = True) -> None:
    """Read and align every image once: fills the cache and fails early on bad files."""
    from tqdm import tqdm

    for s in tqdm(data.samples, desc="preparing crops", disable=not progress, leave=False):
        preparer(s.path)


def read_recipe_data(recipe: Recipe, split: str | None) -> LabeledImages:
    ds = recipe.dataset
    label_set = get_label_set(ds.label_set)
    data = read_dataset(
        ds.format,
        ds.root,
        label_set=label_set,
        split=split,
        variant=ds.variant,
        annotations=ds.annotations,
    )
    if ds.max_samples is not None and split == ds.split and len(data) > ds.max_samples:
        rng = np.random.default_rng(recipe.train.seed)
        keep = sorted(rng.choice(len(data), ds.max_samples, replace=False))
        data.samples = [data.samples[i] for i in keep]
    return data


def make_preparer(recipe: Recipe) -> ImagePreparer:
    ds = recipe.dataset
    cache = ds.cache_dir or str(Path(recipe.train.output_dir).parent / ".crop_cache")
    return ImagePreparer(ds.align, ds.crop_size, cache if ds.align == "app" else None)
