"""`cer doctor`: check that the libraries, models and devices the app needs are usable here."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cer_desktop.extras import extra_for_module, install_command, is_installed


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _version(module: str) -> Check:
    extra = extra_for_module(module)
    if extra is not None and not is_installed(module):
        # the light core: an extra that is not installed is a choice, not a problem
        return Check(module, True, f"not installed (the {extra} extra: {install_command(extra)})")
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # an import can fail with any error (missing .so, ABI...)
        return Check(module, False, f"cannot import: {exc}")
    return Check(module, True, str(getattr(mod, "__version__", "installed")))


def _face_mesh() -> Check:
    try:
        from datetime import UTC, datetime

        import numpy as np
        from skimage import data

        from cer_desktop.capture.base import FrameSource  # noqa: F401  (import check only)
        from cer_desktop.contracts import Frame
        from cer_desktop.vision.analyzer import FaceAnalyzer

        analyzer = FaceAnalyzer(max_faces=1, static_images=True)
        frame = Frame(
            0, time.monotonic(), datetime.now(UTC), np.ascontiguousarray(data.astronaut())
        )
        t0 = time.perf_counter()
        faces = analyzer.process(frame)
        ms = (time.perf_counter() - t0) * 1000
        analyzer.close()
    except Exception as exc:
        return Check("face mesh", False, f"{type(exc).__name__}: {exc}")
    if not faces:
        return Check("face mesh", False, "MediaPipe found no face on the test photo")
    shapes = " and 52 blendshapes" if faces[0].blendshapes else ""
    return Check(
        "face mesh",
        True,
        f"{analyzer.landmark_model}: 478 landmarks{shapes} on the test photo in {ms:.0f} ms",
    )


def _au_source() -> Check:
    """Which landmark model and action-unit source the instant tier uses here."""
    from cer_desktop.recognition.instant import INSTANT_VERSION
    from cer_desktop.vision.landmarker_file import find_landmarker

    choice = find_landmarker()
    # the legacy mesh works, it is only weaker on real faces: a note, not a failure
    return Check("instant AUs", True, f"tier v{INSTANT_VERSION}, {choice.describe()}")


def _torch_devices() -> Check:
    if not is_installed("torch"):
        return Check("torch devices", True, "no torch (the LVLM recognizer needs the lvlm extra)")
    try:
        import torch
    except Exception as exc:
        return Check("torch devices", False, str(exc))
    from cer_desktop.recognition.lvlm.loading import cpu_has_native_bf16

    # the dtype an LVLM gets on the CPU with "auto"
    devices = ["cpu (bf16)" if cpu_has_native_bf16() else "cpu (fp32)"]
    if torch.cuda.is_available():
        devices += [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if mps:
        devices.append("mps (Apple GPU)")
    return Check(
        "torch devices", True, ", ".join(devices) + devices_choice(torch.cuda.is_available(), mps)
    )


def devices_choice(cuda: bool, mps: bool) -> str:
    """Which device an LVLM gets with "auto" here, and what 4-bit runs as on it."""
    from cer_desktop.recognition.lvlm.device_plan import auto_device, quant_note

    device = auto_device(cuda=cuda, mps=mps)
    note = quant_note("nf4", device)
    return f"; an LVLM runs on {device}" + (f" ({note})" if note else "")


def family_paths() -> dict[str, dict[str, str]]:
    """Each registered family's closed-set scoring path on this transformers release.

    Builds a tiny random model of every family in the registry (`testing/families`; nothing
    is downloaded), loads it as the app does and scores one face. Returns model_type ->
    {"name", "scoring_path", and "reason" when the path is not single-pass with the prompt
    cache}; a family whose scoring fails gets "scoring_path": "error" and the error.
    """
    import tempfile
    from pathlib import Path

    import numpy as np

    from cer_desktop.labels import RAF_COMPOUND
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.scoring import ClosedSetScorer
    from cer_desktop.recognition.lvlm.spec import ModelSpec
    from cer_desktop.testing.families import FAMILIES

    face = np.full((224, 224, 3), 128, np.uint8)
    out: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model_type, family in FAMILIES.items():
            entry = {"name": family.name}
            try:
                folder = family.build_tiny(Path(tmp) / model_type)
                model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32"))
                scorer = ClosedSetScorer(model, processor)
                scorer.score([face], RAF_COMPOUND)
            except Exception as exc:  # any failure here is what the check is for
                entry.update(scoring_path="error", reason=f"{type(exc).__name__}: {exc}")
                out[model_type] = entry
                continue
            entry["scoring_path"] = scorer.path
            reasons = list(scorer.capabilities.reasons)
            if scorer.capabilities.prompt_cache and "prompt cache" not in scorer.path:
                reasons.append("its chat template puts the image before the prompt text")
            if scorer.path != "single-pass + prompt cache":
                entry["reason"] = "; ".join(reasons) or "no reason given"
            out[model_type] = entry
    return out


def _is_regression(entry: dict[str, str]) -> bool:
    """Scoring failed, or two passes for a reason other than the model's recurrent layers.

    A model whose decoder has recurrent layers (Qwen3.5) cannot take the tree mask: that is
    its architecture. Any other reason means the installed transformers changed code the fast
    path relies on (see `recognition/lvlm/capabilities.py`).
    """
    if entry["scoring_path"] == "error":
        return True
    return entry["scoring_path"].startswith("two-pass") and "recurrent" not in entry.get(
        "reason", ""
    )


def _scoring_paths(paths: dict[str, dict[str, str]] | None = None) -> Check:
    """The closed-set scoring path this transformers release gives each registered family."""
    try:
        import transformers
    except ImportError:
        return Check("lvlm scoring", True, 'not installed (pip install "cer-desktop[lvlm]")')
    paths = family_paths() if paths is None else paths
    parts = []
    for entry in paths.values():
        why = f" ({entry['reason']})" if _is_regression(entry) else ""
        parts.append(f"{entry['name']}: {entry['scoring_path']}{why}")
    detail = f"transformers {transformers.__version__}; " + ", ".join(parts)
    return Check("lvlm scoring", not any(_is_regression(e) for e in paths.values()), detail)


def _cameras() -> Check:
    try:
        from cer_desktop.capture.sources import list_cameras

        cams = list_cameras()
    except Exception as exc:
        return Check("cameras", False, f"{type(exc).__name__}: {exc}")
    if not cams:
        return Check("cameras", True, "none found (the app will start on the built-in demo)")
    return Check("cameras", True, ", ".join(str(c) for c in cams))


def run_checks(paths: dict[str, dict[str, str]] | None = None) -> list[Check]:
    """Every check, in order; `paths` (from `family_paths`) saves building the models twice."""
    checks: list[Callable[[], Check]] = [
        lambda: Check("python", True, f"{platform.python_version()} on {platform.machine()}"),
        *(
            (lambda m=m: _version(m))
            for m in (
                "numpy",
                "cv2",
                "mediapipe",
                "torch",
                "transformers",
                "peft",
                "bitsandbytes",
                "av",
                "PySide6",
                "pylsl",  # the streams extra; importing it loads liblsl (glibc >= 2.35)
                "websockets",
                "pythonosc",
            )
        ),
        _torch_devices,
        lambda: _scoring_paths(paths),
        _au_source,
        _face_mesh,
        _cameras,
    ]
    return [c() for c in checks]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check libraries, face models, devices and cameras")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: every check, and each model family's scoring path",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    paths = family_paths() if is_installed("transformers") else {}
    results = run_checks(paths)
    bad = [c for c in results if not c.ok]
    if getattr(args, "json", False):
        report = {
            "ok": not bad,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in results],
            "families": {
                k: {key: v for key, v in e.items() if key != "name"} for k, e in paths.items()
            },
        }
        print(json.dumps(report))
        return 1 if bad else 0
    width = max(len(c.name) for c in results)
    for c in results:
        print(f"{'ok ' if c.ok else 'BAD'}  {c.name:<{width}}  {c.detail}")
    if bad:
        print(f"\n{len(bad)} problem(s) found.", file=sys.stderr)
    return 1 if bad else 0
