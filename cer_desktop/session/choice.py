"""`RecognizerChoice`: which recognizer to run, as one value, whoever asks.

The window's model dialog, the saved settings, `cer-desktop --model/--server`, `cer annotate`
and the live benchmarks all describe a recognizer with it, and only `to_spec` turns it into
what `recognition.factory.create_recognizer` builds (a `ModelSpec`, a remote `ServerConfig`,
or None for the instant tier): a new option (a quantisation, a server flag) is added here
once.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from cer_desktop.option_values import QUANTS, needs_base_model
from cer_desktop.settings import strip_url_credentials


@dataclass(frozen=True, slots=True)
class RecognizerChoice:
    """What the user picked. An empty `base` and `server` mean the instant recognizer.

    `base`: hub id or folder of an LVLM; `adapter`: its LoRA adapter; `quant`: none, nf4 or
    int8; `threshold`: under this top probability a face is "uncertain"; `server`,
    `served_model`, `model_meta`: an OpenAI-compatible server (base, adapter and quant are not
    used then) and the served model's `cer_adapter.json`; `deadline`: live, the seconds a frame
    waits for the server before the instant tier labels it; `device`: auto, cpu, cuda[:N],
    mps; `in_flight`: requests a remote server gets at once; `dtype`: the weights' dtype
    (auto, bf16, fp16, fp32: option_values.DTYPES). A `user:password@` in `server` is
    removed (never saved or shown; `credentials_removed` says so).
    """

    base: str = ""
    adapter: str = ""
    quant: str = "none"
    threshold: float = 0.0
    server: str = ""
    served_model: str = ""
    model_meta: str = ""
    deadline: float = 3.0
    device: str = "auto"
    in_flight: int = 8
    dtype: str = "auto"
    credentials_removed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        clean, had = strip_url_credentials(self.server)
        if had:
            object.__setattr__(self, "server", clean)
            object.__setattr__(self, "credentials_removed", True)

    @classmethod
    def from_settings(cls, s: Any) -> RecognizerChoice:
        """The choice saved in `AppSettings` `s`."""
        return cls(
            s.model_base, s.model_adapter, s.model_quant, s.threshold,
            s.remote_url, s.remote_model, s.remote_meta, s.remote_deadline,
        )  # fmt: skip

    def settings_fields(self) -> dict[str, Any]:
        """The `AppSettings` fields that remember this choice."""
        return dict(
            model_base=self.base, model_adapter=self.adapter, model_quant=self.quant,
            threshold=self.threshold, remote_url=self.server, remote_model=self.served_model,
            remote_meta=self.model_meta, remote_deadline=self.deadline,
        )  # fmt: skip

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, *, device: bool = True) -> None:
        """The command-line options of a choice (`from_args` reads them)."""
        p.add_argument("--model", default=None, help="base model (hub id or folder)")
        p.add_argument("--adapter", default=None, help="LoRA adapter folder for --model")
        p.add_argument("--quant", default=None, choices=QUANTS, help="quantisation of --model")
        if device:
            p.add_argument(
                "--device", default=None, help="device of --model: auto, cpu, cuda:N, mps"
            )
        p.add_argument("--server", default=None, help="OpenAI-compatible server URL (vLLM)")
        p.add_argument("--served-model", default=None, help="the model name the server serves")
        p.add_argument(
            "--model-meta",
            default="",
            metavar="PATH",
            help="the served model's cer_adapter.json (or its folder; cer export --merge"
            " writes it): its prompt, crop size and label set",
        )

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, default: RecognizerChoice | None = None
    ) -> RecognizerChoice | None:
        """The choice the options of `add_arguments` name, each option over `default`
        (the saved settings); None when they name nothing and there is no default. Raises
        `ValueError` for options that exclude each other."""
        base = default or cls()
        server = getattr(args, "server", None)
        served = getattr(args, "served_model", None)
        local = {
            "--adapter": getattr(args, "adapter", None),
            "--quant": getattr(args, "quant", None),
            "--device": getattr(args, "device", None),
        }
        if server or served:
            if getattr(args, "model", None):
                raise ValueError("--server and --model exclude each other")
            problem = needs_base_model(local)  # they would be ignored: a server runs
            if problem:
                raise ValueError(problem)
            return cls(
                server=server or "",
                served_model=served or "",
                model_meta=getattr(args, "model_meta", "") or "",
                threshold=base.threshold,
                deadline=base.deadline,
                in_flight=int(getattr(args, "concurrency", None) or base.in_flight),
            )
        model = getattr(args, "model", None)
        adapter, quant, device = local.values()
        if not (model or any(v is not None for v in local.values())):
            return default
        problem = needs_base_model(local)
        if problem and not (model if model is not None else base.base):
            raise ValueError(problem)  # they would be ignored: the instant tier would run
        return cls(
            base=model if model is not None else base.base,
            adapter=str(adapter) if adapter is not None else base.adapter,
            quant=str(quant or base.quant),
            threshold=base.threshold,
            device=str(device or base.device),
        )

    @property
    def wants_model(self) -> bool:
        """True unless this is the instant recognizer."""
        return bool(self.base.strip() or self.server.strip())

    def to_spec(self) -> Any:
        """The `ModelSpec` or remote `ServerConfig` to build, or None for the instant
        recognizer (raises the spec's `RecognizerError` for a bad choice)."""
        if self.server.strip():
            from cer_desktop.recognition.remote.client import ServerConfig

            return ServerConfig(
                self.server.strip(),
                self.served_model.strip(),
                in_flight=self.in_flight,
                model_meta=self.model_meta.strip(),
                live_deadline=self.deadline,
            )
        if not self.base.strip():
            return None
        from cer_desktop.recognition.lvlm.spec import ModelSpec

        return ModelSpec(
            base=self.base.strip(),
            adapter=self.adapter.strip() or None,
            quant=self.quant,
            threshold=self.threshold,
            device=self.device,
            dtype=self.dtype,
        )

    def describe(self) -> str:
        """For people: "instant (no model)", "BASE + ADAPTER [nf4]", "remote: NAME @ URL"."""
        if self.server.strip():
            return f"remote: {self.served_model.strip()} @ {self.server.strip()}"
        if not self.base.strip():
            return "instant (no model)"
        parts = [self.base.strip()]
        if self.adapter.strip():
            parts.append(f"+ {self.adapter.strip()}")
        if self.quant != "none":
            parts.append(f"[{self.quant}]")
        return " ".join(parts)
