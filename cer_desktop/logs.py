"""Where log messages go: a quiet console and a rotating log file in the user's log folder.

Normal runs print only cer-desktop's own warnings and errors on the console; everything else
(third-party noise: TensorFlow Lite, absl and MediaPipe's native messages, bitsandbytes'
kernel warning, Python warnings) goes to the log file only. `--verbose` prints everything.
The log file is what About and the README point to for bug reports.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from typing import Any

ENV_LOG_DIR = "CER_DESKTOP_LOG_DIR"
LOG_FILE = "cer-desktop.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_dir() -> Path:
    """The user's log folder (platformdirs), or `$CER_DESKTOP_LOG_DIR`."""
    override = os.environ.get(ENV_LOG_DIR)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_log_dir("cer-desktop", appauthor=False))


def log_file() -> Path:
    return log_dir() / LOG_FILE


class _OwnMessagesOnly(logging.Filter):
    """The console's filter in normal runs: cer-desktop's warnings, anyone's errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        return record.name.startswith("cer_desktop") and record.levelno >= logging.WARNING


def setup_logging(verbose: bool = False, *, capture_native: bool = True) -> Path | None:
    """Configure the root logger; returns the log file (None when it cannot be written).

    With `capture_native` (not verbose), what native libraries write to the process's stderr
    (file descriptor 2) goes to the log file instead of the console.
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for h in list(root.handlers):
        root.removeHandler(h)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if verbose:
        console.setLevel(logging.DEBUG)
    else:
        console.setLevel(logging.WARNING)
        console.addFilter(_OwnMessagesOnly())
    root.addHandler(console)
    logging.captureWarnings(True)
    path: Path | None = log_file()
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file (%s): %s", path, exc)
        path = None
    else:
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    if capture_native and not verbose and path is not None:
        _capture_native_stderr(console)
    return path


def _capture_native_stderr(console: logging.StreamHandler[Any]) -> None:
    """Point fd 2 at a pipe whose lines are logged (file only); Python's own stderr and the
    console handler keep writing to the terminal."""
    try:
        terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
    except OSError:
        return
    sys.stderr = terminal
    console.setStream(terminal)
    native = logging.getLogger("native")

    def pump() -> None:
        with os.fdopen(r, "r", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                native.info("%s", line.rstrip())

    threading.Thread(target=pump, name="native-stderr", daemon=True).start()
