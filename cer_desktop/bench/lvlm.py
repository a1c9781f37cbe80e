"""`cer bench lvlm`: closed-set scoring vs free generation, CPU speed modes, 4-bit memory.

A Qwen2-VL of realistic shape (Qwen2-VL's real tokenizer from `scripts/fetch-qwen2-vocab.sh`
and its 151,936-row embedding; `--tokenizer trained` uses one trained on the label texts, where
every compound label is 2 tokens; a real vision tower; 224x224 faces = 64 visual tokens) is
built locally with random weights; its output layer is taught for a few steps to answer face i
with RAF-DB compound label i followed by the end-of-answer token (11 faces, one per label, so
generation stops by itself after every label length), and measured:

- `score_vs_generate_speedup`: greedy generation (max_new_tokens = longest label + 1, stopping
  at the end-of-answer token, then parsing) time / closed-set scoring time, one face per call,
  medians over all 11 faces, same model and inputs (`label_tokens`, `label_tokens_max`);
- `batch4_vs_4x_single_ratio`: one scoring call with 4 faces / four calls with one face;
- `nf4_model_bytes`, `bf16_model_bytes`: the whole model in memory (`get_memory_footprint`);
- `score_ms_median`: one face, 11 labels, as the app loads and runs the model (`cpu_speed`);
- on the CPU: `cpu_bf16_peak_gflops` (best large bf16 matrix product), each speed mode's ms and
  `max_abs_prob_diff_vs_fp32` (`modes`; cold calls, one face each), the fastest within 0.03
  (`fastest_mode`, `score_ms_median_fastest`), where a call's time goes (`profile`), and the
  call's floors (`floor_ms`, `roofline_floor_ms` with `cpu_read_gbs`: `lvlm_profile.py`).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cer_desktop.bench.cpu_peak import cpu_bf16_peak_gflops, cpu_read_gbs
from cer_desktop.bench.lvlm_modes import BENCH_MODES, measure_modes
from cer_desktop.bench.lvlm_profile import floor_figures, profile_score
from cer_desktop.labels import RAF_COMPOUND
from cer_desktop.recognition.lvlm.cpu_speed import apply_cpu_speed_mode, default_cpu_speed_mode
from cer_desktop.recognition.lvlm.encoding import ImageLimits, encode_prompts, label_token_ids
from cer_desktop.recognition.lvlm.generation import generate_answers
from cer_desktop.recognition.lvlm.loading import load_base
from cer_desktop.recognition.lvlm.prompts import prompt_for
from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer, to_model
from cer_desktop.recognition.lvlm.spec import DTYPES, QUANTS, ModelSpec
from cer_desktop.session.choice import RecognizerChoice
from cer_desktop.testing.qwen2_vocab import QWEN2VL_VOCAB_SIZE
from cer_desktop.testing.taught import astronaut_faces as make_faces
from cer_desktop.testing.taught import teach_labels as teach
from cer_desktop.testing.tiny_models import build_tiny_qwen2vl

TOKENIZERS = ("qwen2", "trained")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", type=int, default=1024, help="decoder width")
    p.add_argument("--intermediate", type=int, default=5632, help="decoder MLP width")
    p.add_argument("--layers", type=int, default=4, help="decoder layers")
    p.add_argument("--heads", type=int, default=8, help="attention heads (head dim = hidden/heads)")
    p.add_argument("--kv-heads", type=int, default=2, help="key/value heads")
    p.add_argument("--vision-dim", type=int, default=640, help="vision tower width")
    p.add_argument("--vision-depth", type=int, default=4, help="vision tower blocks")
    p.add_argument("--vocab", type=int, default=151936, help="vocabulary (Qwen2-VL: 151936)")
    p.add_argument("--teach-steps", type=int, default=200, help="steps teaching the answers")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--quant", default="none", choices=QUANTS, help="quantisation of the measured model"
    )
    p.add_argument("--dtype", default="auto", choices=DTYPES, help="weights/compute dtype")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument(
        "--shape",
        default="small",
        choices=sorted({*SHAPES, *_family_shapes()}),
        help="model shape: 'small' (the default, minutes on a CPU; --hidden etc. adjust it), "
        "'qwen2-vl-2b' (Qwen2-VL-2B-Instruct's real dimensions, random weights; it overrides "
        "--hidden, --intermediate, --layers, --heads, --kv-heads, --vision-* and --vocab) or a "
        "family's real-dimension shape from the registry (testing/families: qwen3-vl-2b, ...; "
        "with --quick, that family's tiny dimensions)",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        choices=TOKENIZERS,
        help="'qwen2': Qwen2-VL's real tokenizer (labels of 2-7 tokens; needs "
        "scripts/fetch-qwen2-vocab.sh; the default) or 'trained': one trained on the label "
        "texts (every compound label 2 tokens; the default with --quick)",
    )
    p.add_argument(
        "--modes",
        default=",".join(BENCH_MODES),
        help="CPU speed modes to time against the fp32 reference, comma-separated "
        f"({', '.join(BENCH_MODES)}; '' for none); auto and bf16-packed are also profiled",
    )
    p.add_argument("--folder", default=None, help="keep the built models here (default: temp)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a benchmark")


# Qwen2-VL-2B-Instruct's dimensions (its config.json), except that the output layer is untied
# from the input embeddings (as in Qwen2-VL-7B) so that teaching it leaves the decoder's states
# unchanged: same compute per call, 0.23 B more parameters in memory.
SHAPES: dict[str, dict[str, Any]] = {
    "small": {},
    "qwen2-vl-2b": dict(
        hidden=1536,
        intermediate=8960,
        layers=28,
        heads=12,
        kv_heads=2,
        vision_dim=1280,
        vision_depth=32,
        vocab=151936,
    ),
}


def _family_shapes() -> dict[str, Any]:
    """Real-dimension shapes of the registry's families (beside this module's own `SHAPES`)."""
    from cer_desktop.testing.families import FAMILIES

    return {n: f for f in FAMILIES.values() for n in f.shapes if n not in SHAPES}


def _run_family_shape(args: argparse.Namespace) -> dict:
    """`--shape NAME` of a registry family: its own builder, dims and (real) tokenizer."""
    import sys

    family = _family_shapes()[args.shape]
    # untied output layer, so teaching it leaves the decoder's states unchanged (as for 2B)
    sizes: dict[str, Any] = {} if args.quick else dict(family.shapes[args.shape])
    sizes["tie_word_embeddings"] = False
    if not args.quick:
        # the config's own init (std 0.02), as the Qwen shapes: the tiny builders' larger std
        # (0.15, for tiny widths) made activations explode at real widths (RMS 300)
        sizes["init_std"] = None
    real = getattr(sys.modules[family.build_tiny.__module__], "real_tokenizer", None)
    args.tokenizer = getattr(args, "tokenizer", None) or (
        "trained" if args.quick or real is None else "real"
    )
    if args.tokenizer != "trained":
        if real is None:
            raise SystemExit(f"error: no real tokenizer for {family.name}; use --tokenizer trained")
        from cer_desktop.testing.qwen2_vocab import VocabUnavailable

        try:
            sizes["tokenizer"] = real()
        except VocabUnavailable as exc:
            raise SystemExit(f"error: {exc}; or use --tokenizer trained") from exc
    if args.folder:
        return _measure(args, sizes, Path(args.folder), family.build_tiny)
    with tempfile.TemporaryDirectory(prefix="cer_bench_lvlm_") as tmp:
        return _measure(args, sizes, Path(tmp), family.build_tiny)


def run(args: argparse.Namespace) -> dict:
    # bad options fail before minutes of building and teaching
    unknown = [m for m in (getattr(args, "modes", "") or "").split(",") if m]
    unknown = [m for m in unknown if m not in BENCH_MODES]
    if unknown:
        raise SystemExit(f"error: unknown --modes {unknown}; choose from {list(BENCH_MODES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if getattr(args, "shape", "small") not in SHAPES:
        return _run_family_shape(args)
    for key, value in SHAPES[getattr(args, "shape", "small")].items():
        setattr(args, key, value)
    sizes: dict[str, Any] = dict(
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        vision_embed_dim=args.vision_dim,
        vision_depth=args.vision_depth,
        vision_num_heads=max(1, args.vision_dim // 80),
        vision_mlp_ratio=4,
        vocab_size=args.vocab,
        # untied (as Qwen2-VL-7B; the 2B ties them) so teaching the output layer leaves the
        # input embeddings, and so the decoder states it learns from, unchanged
        tie_word_embeddings=False,
    )
    if args.quick:
        sizes.update(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2, vision_embed_dim=64
        )
        # (heads too: --shape qwen2-vl-2b --quick had 12 heads on a 128-wide decoder)
        sizes.update(num_attention_heads=8, num_key_value_heads=2)
        sizes.update(vision_depth=1, vision_num_heads=2, vocab_size=4096)
    args.tokenizer = getattr(args, "tokenizer", None) or ("trained" if args.quick else "qwen2")
    if args.tokenizer == "qwen2":
        sizes["tokenizer"] = _real_tokenizer()
        sizes["vocab_size"] = max(sizes["vocab_size"], QWEN2VL_VOCAB_SIZE)
    if args.folder:
        return _measure(args, sizes, Path(args.folder))
    # the built models take ~1.7 GB: never leave them behind
    with tempfile.TemporaryDirectory(prefix="cer_bench_lvlm_") as tmp:
        return _measure(args, sizes, Path(tmp))


def _real_tokenizer() -> Any:
    """Qwen2-VL's tokenizer on the real vocabulary; a clear message when it cannot be had."""
    from cer_desktop.testing.qwen2_vocab import VocabUnavailable, qwen2vl_tokenizer

    try:
        return qwen2vl_tokenizer()
    except VocabUnavailable as exc:
        raise SystemExit(f"error: --tokenizer qwen2: {exc}; or use --tokenizer trained") from exc


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def _measure(
    args: argparse.Namespace,
    sizes: dict[str, Any],
    root: Path,
    build: Callable[..., Path] = build_tiny_qwen2vl,
) -> dict:
    result: dict[str, Any] = {"model": "qwen2vl-shaped", "shape": getattr(args, "shape", "small")}
    result.update({k: v for k, v in sizes.items() if k != "tokenizer"}, tokenizer=args.tokenizer)
    t0 = time.perf_counter()
    base = build(root / "base", **sizes)
    gc.collect()
    model, processor = load_base(ModelSpec(base=str(base), dtype="fp32", device="cpu"))
    result["model_type"] = str(model.config.model_type)
    result["model"] = f"{result['model_type']}-shaped"
    result["params"] = sum(p.numel() for p in model.parameters())
    # one face per label, each taught to answer with its own: generation is timed over every
    # label length, not one face whose label happens to be short or long
    faces = make_faces(len(RAF_COMPOUND))

    t1 = time.perf_counter()
    model = teach(model, processor, faces, args.teach_steps, result)
    result["teach_s"] = round(time.perf_counter() - t1, 1)
    taught = root / "taught"
    model.save_pretrained(taught)
    processor.save_pretrained(taught)
    # one model in memory at a time (the 2B shape is 9.8 GB in fp32)
    del model
    gc.collect()

    # memory of the whole model in 4-bit NF4 and in bf16
    for quant, key in (("nf4", "nf4_model_bytes"), ("none", "bf16_model_bytes")):
        m, _ = load_base(ModelSpec(base=str(taught), quant=quant, dtype="bf16", device="cpu"))
        result[key] = int(m.get_memory_footprint())
        del m
        gc.collect()

    # CPU: this CPU's bf16 ceiling, then each speed mode against the fp32 reference
    on_cpu = getattr(args, "device", "cpu") == "cpu"
    modes = [m for m in (getattr(args, "modes", "") or "").split(",") if m]
    if on_cpu:
        result["cpu_bf16_peak_gflops"] = cpu_bf16_peak_gflops()
        result["cpu_read_gbs"] = cpu_read_gbs()
    if on_cpu and modes:
        result.update(
            measure_modes(
                taught,
                faces,
                modes,
                prompt_for(RAF_COMPOUND),
                args.repeats,
                profile=lambda s: profile_score(s, faces[0], RAF_COMPOUND, args.repeats),
            )
        )
        gc.collect()

    # the measured model is loaded as the app loads it: quantisation, dtype, device
    choice = RecognizerChoice(
        base=str(taught),
        quant=getattr(args, "quant", "none"),
        dtype=getattr(args, "dtype", "auto"),
        device=getattr(args, "device", "cpu"),
    )
    spec = choice.to_spec()
    model, processor = load_base(spec)
    result.update(quant=spec.quant, dtype=str(model.dtype), device=str(model.device))
    model_bytes = int(model.get_memory_footprint())  # (packed weights are no parameters)
    # and run as the recognizer runs it (bf16 linears packed for oneDNN on the CPU)
    result["cpu_speed"] = default_cpu_speed_mode(model)
    apply_cpu_speed_mode(model, result["cpu_speed"])
    prompt = prompt_for(RAF_COMPOUND)
    limits = ImageLimits()
    scorer = ClosedSetScorer(model, processor, prompt, limits)
    seqs = label_token_ids(processor, RAF_COMPOUND, prompt)
    prefix = encode_prompts(processor, faces[:1], RAF_COMPOUND, prompt, limits)
    result["prefix_tokens"] = int(prefix["input_ids"].shape[1])
    # image tokens of one 224-px face (Qwen2-VL 64, Qwen3-VL 49), counted by the model's own
    # placeholder id (every family's config has one; Gemma 3's processor names its
    # <start_of_image> as `image_token_id`)
    image_id = getattr(model.config, "image_token_id", None)
    image_id = processor.image_token_id if image_id is None else image_id
    result["image_tokens"] = int((prefix["input_ids"] == image_id).sum())
    # per label: answer tokens incl. the end-of-answer token
    result["label_tokens"] = {lab: len(s) for lab, s in zip(RAF_COMPOUND.labels, seqs, strict=True)}
    result["label_tokens_max"] = max(len(s) for s in seqs)
    result["trie_prefixes"] = len(scorer.trie(RAF_COMPOUND).prefixes)
    result["max_new_tokens"] = max(len(s) for s in seqs) + 1

    # warm-up, and what the taught model answers
    scorer.score(faces[:1], RAF_COMPOUND)
    answers = generate_answers(model, processor, faces, RAF_COMPOUND, prompt, limits)
    result["generated"] = [a.text for a in answers]
    result["generated_parsed"] = sum(a.label_index is not None for a in answers)
    result["generated_as_taught"] = sum(a.label_index == i for i, a in enumerate(answers))
    # forward passes per answer: generation = prefill + one per further token; scoring = 1 or 2
    result["generate_forward_passes"] = round(float(np.mean([a.tokens for a in answers])), 2)
    result["score_forward_passes"] = 1 if scorer.path.startswith("single-pass") else 2
    result["scoring_path"] = scorer.path  # what ran: "single-pass + prompt cache", "two-pass"...
    result["transformers"] = importlib.metadata.version("transformers")
    probs = scorer.score(faces, RAF_COMPOUND)
    agree = [int(np.argmax(p)) == a.label_index for p, a in zip(probs, answers, strict=True)]
    result["score_top_equals_generated"] = int(sum(agree))

    body = model.model
    inputs = to_model(prefix, model)
    on_cuda = str(model.device).startswith("cuda")

    def prefix_pass() -> None:
        with torch.inference_mode():
            body(**inputs, use_cache=True)
        if on_cuda:  # the other measures end in host values; this one must wait for the GPU
            torch.cuda.synchronize()

    plain = ClosedSetScorer(model, processor, prompt, limits)
    plain.reuse_prompt_cache = False  # what the prompt cache contributes
    plain.score(faces[:1], RAF_COMPOUND)
    two = ClosedSetScorer(model, processor, prompt, limits)
    two.single_pass = False  # prefix pass, then all labels against its cache
    two.score(faces[:1], RAF_COMPOUND)
    four = faces[:4]
    measures: dict[str, list[Callable[[], object]]] = {
        # one call per face, over every face: these two are the headline figures
        "score": [partial(scorer.score, [f], RAF_COMPOUND) for f in faces],
        "generate": [
            partial(generate_answers, model, processor, [f], RAF_COMPOUND, prompt, limits)
            for f in faces
        ],
        "prefix": [prefix_pass],
        "score_plain": [lambda: plain.score(faces[:1], RAF_COMPOUND)],
        "score_two_pass": [lambda: two.score(faces[:1], RAF_COMPOUND)],
        "batch4": [lambda: scorer.score(four, RAF_COMPOUND)],
        "single_x4": [lambda: [scorer.score([f], RAF_COMPOUND) for f in four]],
    }
    # round-robin, so that load from other processes on a shared machine hits all alike
    times: dict[str, list[float]] = {k: [] for k in measures}
    for _ in range(args.repeats):
        for key, fns in measures.items():
            for fn in fns:
                t = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t) * 1000.0)
    med = {k: statistics.median(v) for k, v in times.items()}
    score_ms, gen_ms = med["score"], med["generate"]
    result.update(
        score_ms_median=round(score_ms, 1),
        generate_ms_median=round(gen_ms, 1),
        generate_ms_max=round(max(times["generate"]), 1),
        prefix_pass_ms_median=round(med["prefix"], 1),
        score_without_prompt_cache_ms_median=round(med["score_plain"], 1),
        score_two_pass_ms_median=round(med["score_two_pass"], 1),
        score_vs_generate_speedup_without_prompt_cache=round(gen_ms / med["score_plain"], 2),
        batch4_ms_median=round(med["batch4"], 1),
        single_x4_ms_median=round(med["single_x4"], 1),
        score_vs_generate_speedup=round(gen_ms / score_ms, 2),
        batch4_vs_4x_single_ratio=round(med["batch4"] / med["single_x4"], 3),
        torch_threads=torch.get_num_threads(),
        model_bytes=model_bytes,
    )
    if on_cuda:
        result["gpu"] = torch.cuda.get_device_name(model.device)
        result["gpu_peak_bytes"] = int(torch.cuda.max_memory_allocated(model.device))
    if result.get("cpu_bf16_peak_gflops"):
        # The peak moves with the VM's neighbours (444-2413 GFLOP/s measured here on one day):
        # measured again at the end, the larger is the ceiling the floor is computed from.
        samples = [result["cpu_bf16_peak_gflops"], cpu_bf16_peak_gflops()]
        result["cpu_bf16_peak_gflops_samples"] = samples
        result["cpu_bf16_peak_gflops"] = max(samples)
    result.update(floor_figures(result))
    result["total_s"] = round(time.perf_counter() - t0, 1)
    return result
