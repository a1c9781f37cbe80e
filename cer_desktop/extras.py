"""Optional extras (`lvlm`, `train`): what each needs, and a clear message when it is missing.

`pip install cer-desktop` gives the light core (window, capture, MediaPipe, the instant
recognizer, recording, `cer annotate/report/recover`); the LVLM recognizer needs the `lvlm`
extra and training the `train` extra. Presence is checked with `importlib.util.find_spec`,
which locates a module without importing it, so checking never loads torch.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

from cer_desktop.contracts import RecognizerError

# The top-level modules each extra installs that the code imports (pyproject.toml's extras).
LVLM_MODULES = ("torch", "transformers", "peft", "accelerate", "huggingface_hub")
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "lvlm": LVLM_MODULES,
    "train": LVLM_MODULES,
    # live streams out and LSL markers in (cer_desktop/streams)
    "streams": ("pylsl", "websockets", "pythonosc"),
}
# Installed by an extra but needed only for some choices (4-bit/8-bit weights, Qwen2-VL's
# processor); a missing one is reported by the extra that brings it.
OPTIONAL_MODULE_EXTRA = {"bitsandbytes": "lvlm", "torchvision": "lvlm"}
# Every module that the light core must never import, mapped to the extra that installs it.
# (Triton is not among them: where a full install has it, `vision/mp_import.py` preloads it on
# purpose, without torch.)
MODULE_EXTRA: dict[str, str] = {
    **{m: "lvlm" for m in LVLM_MODULES},
    **OPTIONAL_MODULE_EXTRA,
    **{m: "streams" for m in EXTRA_MODULES["streams"]},
}


def install_command(extra: str) -> str:
    """The command that installs `extra` for a user (quoted for shells that glob brackets)."""
    return f'pip install "cer-desktop[{extra}]"'


class MissingExtraError(RecognizerError):
    """A feature needs an optional extra that is not installed; the message names it."""

    def __init__(self, what: str, extra: str, missing: Iterable[str]) -> None:
        self.what = what
        self.extra = extra
        self.missing = tuple(missing)
        if getattr(sys, "frozen", False):  # a PyInstaller bundle: pip cannot add to it
            how = (
                f"This build of cer-desktop was made without it; build one with "
                f"CER_BUNDLE_EXTRAS={extra} bash scripts/bundle.sh, or install the package: "
                f"{install_command(extra)}"
            )
        else:
            how = (
                f"Install it with: {install_command(extra)}"
                f' (from a source checkout: pip install -e ".[{extra}]")'
            )
        super().__init__(
            f'{what} needs the "{extra}" extra, which is not installed (missing: '
            f"{', '.join(self.missing)}). {how}"
        )


def is_installed(module: str) -> bool:
    """True if `module` can be imported here (found, not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent missing, or a stub in sys.modules
        return False


def missing_modules(modules: Iterable[str]) -> list[str]:
    return [m for m in modules if not is_installed(m)]


def require_extra(extra: str, what: str, also: Iterable[str] = ()) -> None:
    """Raise `MissingExtraError` if `extra`'s modules (plus `also`) are not all installed."""
    missing = missing_modules((*EXTRA_MODULES[extra], *also))
    if missing:
        raise MissingExtraError(what, extra, missing)


def extra_for_module(name: str | None) -> str | None:
    """The extra that installs the (dotted) module `name`, or None for core modules."""
    if not name:
        return None
    return MODULE_EXTRA.get(name.split(".", 1)[0])
