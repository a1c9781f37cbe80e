"""The LVLM recognizer for live benchmarks (`cer bench pipeline|soak --recognizer lvlm`).

No weights can be downloaded here, so unless `--model FOLDER` names a model on disk, a
Qwen2-VL of the small realistic shape `cer bench lvlm` uses (151,936-token vocabulary,
1024-wide decoder, 4 layers, a 4-block vision tower; about 0.4 B parameters) is built with
random weights and loaded through the app's own `create_recognizer`, so the live loop pays
the real LVLM's compute. Its answers are meaningless; its cost is what is measured.

On a small CPU the recognizer's torch threads compete with capture, MediaPipe and the
recorder: `--threads` sets torch's intra-op threads (default, as in the window: torch's own,
unless `CER_LIVE_TORCH_THREADS` is set; `recognition/live_threads.py`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

SMALL_SHAPE: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=5632,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    vision_embed_dim=640,
    vision_depth=4,
    vision_num_heads=8,
    vision_mlp_ratio=4,
    vocab_size=151936,
    tie_word_embeddings=False,
)


def add_lvlm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="LVLM folder for --recognizer lvlm")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for the LVLM (0: torch's default, or $CER_LIVE_TORCH_THREADS)",
    )


def make_lvlm(
    args: argparse.Namespace,
) -> tuple[Any, dict[str, Any], tempfile.TemporaryDirectory[str] | None]:
    """(recognizer, facts for the report, temp folder to clean up or None)."""
    from cer_desktop.recognition.factory import create_recognizer
    from cer_desktop.recognition.live_threads import limit_for_live_view
    from cer_desktop.session.choice import RecognizerChoice

    tmp = None
    if args.model:
        folder = Path(args.model)
        built = False
    else:
        from cer_desktop.testing.tiny_models import build_tiny_qwen2vl

        tmp = tempfile.TemporaryDirectory(prefix="cer_bench_live_lvlm_")
        folder = build_tiny_qwen2vl(Path(tmp.name) / "model", **SMALL_SHAPE)
        built = True
    recognizer = create_recognizer(RecognizerChoice(base=str(folder), device="cpu").to_spec())
    threads = limit_for_live_view(args.threads)  # as the window does (session/model_store.py)
    facts = {
        "lvlm_model": "qwen2vl-shaped random weights (built)" if built else str(folder),
        "lvlm_torch_threads": threads,
        "lvlm_dtype": str(getattr(recognizer, "dtype", "")) or None,
    }
    return recognizer, facts, tmp
