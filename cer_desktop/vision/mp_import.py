"""Import MediaPipe safely next to torch: load Triton's LLVM before MediaPipe's GL does.

With a display, MediaPipe's face mesh opens an EGL context; on Mesa drivers that loads
Mesa's own LLVM (llvmpipe, radeonsi). CUDA builds of torch import Triton lazily (for example
when transformers loads a model), and loading Triton's bundled LLVM *after* Mesa's crashes the
process with a segmentation fault (seen under Xvfb: the app died when a model loaded after the
camera had started). Loaded the other way round, both coexist. So every MediaPipe import in
the app goes through `import_mediapipe()`, which imports Triton first when it is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from types import ModuleType

log = logging.getLogger(__name__)


@functools.cache
def _preload_triton() -> bool:
    """Import Triton if it is installed (about 0.25 s, once per process)."""
    if importlib.util.find_spec("triton") is None:
        return False
    try:
        importlib.import_module("triton")
    except Exception as exc:  # a broken Triton must not stop face tracking
        log.debug("triton could not be preloaded: %s", exc)
        return False
    return True


def import_mediapipe() -> ModuleType:
    """`import mediapipe`, after Triton's native library when Triton is installed."""
    _preload_triton()
    import mediapipe

    return mediapipe
