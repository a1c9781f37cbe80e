"""Shared fixtures for the training tests: a tiny Qwen2-VL and a small synthetic data set."""

from __future__ import annotations

from pathlib import Path

import pytest

SIZE = 56  # 4x4 patches of 14 px, merged 2x2: 4 visual tokens per face


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cer_desktop.testing.tiny_models import build_tiny_qwen2vl

    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny_qwen"), face_pixels=SIZE * SIZE)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cer_desktop.training.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("synth")
    write_synthetic(out, n_train=2, n_test=1, n_zero_shot_videos=1, frames_per_video=2, size=SIZE)
    return out


def recipe_dict(base: Path, root: Path, out: Path, **sections: dict) -> dict:
    """A small CPU recipe on drawn faces (align: none: MediaPipe does not find them)."""
    d = {
        "model": {"base": str(base)},
        "method": {"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0},
        "dataset": {
            "format": "rafdb",
            "root": str(root),
            "label_set": "raf_compound" if root.name == "compound" else "raf_basic",
            "align": "none",
            "crop_size": SIZE,
            "eval_split": None,  # tests that want the post-training evaluation ask for it
        },
        "train": {
            "output_dir": str(out),
            "max_steps": 2,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 1e-2,
            "logging_steps": 1,
            "save_steps": 1000,
            "progress": False,
            "warmup_ratio": 0.0,
        },
    }
    for name, values in sections.items():
        d[name] = {**d.get(name, {}), **values}
    return d


def cer(argv: list[str]) -> int:
    """Run a `cer` training subcommand (train/eval/data) as the CLI does, with only this
    layer's parsers registered (the full CLI also imports every other layer)."""
    import argparse

    from cer_desktop.training import commands

    parser = argparse.ArgumentParser(prog="cer")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
