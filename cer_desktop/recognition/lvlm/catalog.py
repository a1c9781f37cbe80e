"""The model manager's curated list: base models a user can pull, with the facts to choose by.

Each entry records the hub id, its family (transformers `model_type`), parameter count, size of
its bf16 weights on disk, licence, the memory it needs at least, CPU/GPU advice and what of it
ran in this project. The recommendation is not a hand-picked id: `recommended()` applies a
stated rule to these facts (see its docstring and the README's "Choosing a model").

Where the figures come from: parameter counts of the families with a real-dimension shape in
`testing/families` are counted from that shape on the meta device (`tests/recognition/lvlm/
test_catalog.py` checks them); the others are the publisher's size class. Disk size = 2 bytes
per parameter (bf16 safetensors); minimum memory = the bf16 weights + 1 GB for activations,
the processor and the app, an estimate. Licences as the model cards state them.
"""

from __future__ import annotations

from dataclasses import dataclass

PERMISSIVE = ("Apache-2.0", "MIT")


@dataclass(frozen=True, slots=True)
class CuratedModel:
    """One base model of the curated list."""

    model_id: str
    model_type: str  # transformers model_type: the family in `testing/families`
    params_b: float  # parameters, billions
    licence: str
    proven: str  # what ran in this project: "full" (scored, trained, NF4, exported, served),
    # "scored" (the exactness tests), "" (not yet)
    advice: str  # CPU/GPU advice

    @property
    def disk_gb(self) -> float:
        """bf16 weights on disk, GB."""
        return round(self.params_b * 2, 1)

    @property
    def min_memory_gb(self) -> float:
        """bf16 weights + 1 GB (an estimate; NF4 needs about a third of the weights' share)."""
        return round(self.params_b * 2 + 1, 1)


CURATED: tuple[CuratedModel, ...] = (
    CuratedModel(
        "Qwen/Qwen3-VL-2B-Instruct", "qwen3_vl", 2.13, "Apache-2.0", "full",
        "CPU with bf16 (AVX512-BF16/AMX) or any GPU with 6 GB; 49 image tokens per face",
    ),
    CuratedModel(
        "Qwen/Qwen3-VL-4B-Instruct", "qwen3_vl", 4.44, "Apache-2.0", "full",
        "GPU with 10 GB (or NF4 with 4 GB); slow on a 2-core CPU (1.6 s per face measured)",
    ),
    CuratedModel(
        "Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl", 8.0, "Apache-2.0", "full",
        "GPU with 18 GB (or NF4 with 8 GB)",
    ),
    CuratedModel(
        "Qwen/Qwen2-VL-2B-Instruct", "qwen2_vl", 2.21, "Apache-2.0", "full",
        "CPU with bf16 or any GPU with 6 GB; 64 image tokens per face (the 2024 model)",
    ),
    CuratedModel(
        "Qwen/Qwen3.5-2B", "qwen3_5", 2.0, "Apache-2.0", "scored",
        "two-pass scoring (linear attention); trained and NF4 in the tests, serving not proven",
    ),
    CuratedModel(
        "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "smolvlm", 0.256, "Apache-2.0", "full",
        "the laptop model: CPU without bf16; far weaker than the 2 B models (below MIN_PARAMS_B)",
    ),
    CuratedModel(
        "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "smolvlm", 0.5, "Apache-2.0", "full",
        "CPU without bf16; weaker than the 2 B models (below MIN_PARAMS_B)",
    ),
    CuratedModel(
        "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "smolvlm", 2.2, "Apache-2.0", "full",
        "CPU with bf16 or a GPU",
    ),
    CuratedModel(
        "google/gemma-3-4b-it", "gemma3", 4.3, "Gemma", "scored",
        "GPU with 10 GB (a 2-core CPU took 16.6 s per face: its 896-px image tower); its licence "
        "has use restrictions (Gemma Terms of Use); trained, NF4 and exported in the tests, not "
        "servable exactly by vLLM 0.32 (causal image attention)",
    ),
    CuratedModel(
        "OpenGVLab/InternVL3_5-1B-HF", "internvl", 1.0, "Apache-2.0", "scored",
        "CPU or GPU",
    ),
    CuratedModel(
        "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava_onevision", 0.9, "Apache-2.0",
        "scored",
        "GPU (a 2-core CPU took 4.4 s per face: 1,485 image tokens); image first in its "
        "template (no prompt cache)",
    ),
)  # fmt: skip


#: The recommendation's floor: below about a billion parameters the families' own reports show
#: a large drop on fine visual questions (SmolVLM2-256M/500M against 2.2B: SmolVLM technical
#: report, arXiv 2504.05299), and compound expressions are fine visual distinctions. The small
#: models stay in the list for laptops; they are not the default.
MIN_PARAMS_B = 1.5


def recommended(models: tuple[CuratedModel, ...] = CURATED) -> CuratedModel:
    """The recommendation, by rule: fully proven here, permissive licence, at least
    `MIN_PARAMS_B` billion parameters, then the fewest parameters.

    "Fully proven" = scored on the fast path, trained (two stages), loaded in NF4, exported and
    served by vLLM in this project's tests; ties go to the newer family (listed first).
    """
    fit = [
        m
        for m in models
        if m.proven == "full" and m.licence in PERMISSIVE and m.params_b >= MIN_PARAMS_B
    ]
    if not fit:
        raise LookupError("no curated model is fully proven with a permissive licence")
    return min(fit, key=lambda m: m.params_b)


def find(model_id: str) -> CuratedModel | None:
    """The curated entry of `model_id`, or None."""
    return next((m for m in CURATED if m.model_id == model_id), None)
