"""Tiny real Qwen2-VL and LLaVA models (built once per session) and adapters for LVLM tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cer_desktop.testing.tiny_models import (
    build_tiny_llava,
    build_tiny_qwen2_5vl,
    build_tiny_qwen2vl,
)

# Large enough random weights that next-token distributions are far from uniform.
INIT_STD = 0.15


@pytest.fixture(scope="session")
def qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny") / "qwen2vl", init_std=INIT_STD)


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny") / "llava", init_std=INIT_STD)


@pytest.fixture(scope="session")
def qwen_loaded(qwen_dir: Path):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return load_base(ModelSpec(base=str(qwen_dir)))


@pytest.fixture(scope="session")
def llava_loaded(llava_dir: Path):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return load_base(ModelSpec(base=str(llava_dir)))


@pytest.fixture(scope="session")
def qwen25_loaded(tmp_path_factory: pytest.TempPathFactory):
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    folder = build_tiny_qwen2_5vl(tmp_path_factory.mktemp("tiny") / "qwen25", init_std=INIT_STD)
    return load_base(ModelSpec(base=str(folder)))


@pytest.fixture(scope="session")
def faces() -> list[np.ndarray]:
    """Three different 224x224 RGB 'faces' (random textures: the models are random too)."""
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]


@pytest.fixture(scope="session")
def qwen_real_vocab_dir(tmp_path_factory: pytest.TempPathFactory, qwen2_tokenizer) -> Path:
    """A tiny Qwen2-VL on Qwen2-VL's real tokenizer and 151,936-row embedding (labels 2-7 tokens)."""
    from cer_desktop.testing.qwen2_vocab import QWEN2VL_VOCAB_SIZE

    return build_tiny_qwen2vl(
        tmp_path_factory.mktemp("tiny") / "qwen2vl_real_vocab",
        init_std=INIT_STD,
        tokenizer=qwen2_tokenizer,
        vocab_size=QWEN2VL_VOCAB_SIZE,
    )


@pytest.fixture(scope="session")
def qwen_real_vocab_loaded(qwen_real_vocab_dir: Path):
    """That model, loaded as the app loads it."""
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    return load_base(ModelSpec(base=str(qwen_real_vocab_dir)))
