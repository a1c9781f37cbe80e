"""Shared test set-up: no display, no downloads, real faces from scikit-image."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing is downloaded in tests: any attempt to reach the model hub fails fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Models load as fp32 on every CPU, so that exactness checks mean the same everywhere; the
# native-bf16 path ("auto" on AVX512-BF16/AMX CPUs) has tests of its own that ask for it.
os.environ["CER_CPU_BF16"] = "0"  # forced: a developer's own setting must not leak in

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A public-domain photo with a real face that MediaPipe detects (RGB, 512x512)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def mesh():
    """MediaPipe's face mesh on still images (478 landmarks, one face)."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    ) as m:
        yield m


def ci_forbids_skips() -> bool:
    """Under `CI=true` a skipped check proves nothing: skips fail instead (README, Testing)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and ci_forbids_skips():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which forbids skips: {reason}"


@pytest.fixture(scope="session")
def qwen2_tokenizer():
    """Qwen2-VL's tokenizer on the real Qwen2 vocabulary (scripts/fetch-qwen2-vocab.sh).

    Skipped with the reason when the vocabulary cannot be had here (a failure under CI=true,
    which fetches it first: see `pytest_runtest_makereport`).
    """
    from cer_desktop.testing.qwen2_vocab import VocabUnavailable, qwen2vl_tokenizer

    try:
        return qwen2vl_tokenizer()
    except VocabUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def face_landmarker_task():
    """MediaPipe's face_landmarker.task (scripts/fetch-face-landmarker.sh, run by
    scripts/install.sh): its path, or a skip with the reason (a failure under CI=true)."""
    from cer_desktop.vision.landmarker_file import find_landmarker

    choice = find_landmarker()
    if choice.path is None:
        pytest.skip(f"no face landmarker: {choice.reason}")
    return choice.path


@pytest.fixture(scope="session")
def qwen3vl_tokenizer():
    """Qwen3-VL's tokenizer: the real Qwen2 vocabulary + Qwen3's added tokens at their ids.

    Skipped with the reason when the vocabulary cannot be had (a failure under CI=true).
    """
    from cer_desktop.testing.families.qwen3_vl import real_tokenizer
    from cer_desktop.testing.qwen2_vocab import VocabUnavailable

    try:
        return real_tokenizer()
    except VocabUnavailable as exc:
        pytest.skip(str(exc))
