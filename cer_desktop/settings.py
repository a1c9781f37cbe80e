"""The app's settings: one typed dataclass saved as JSON in the user's config folder.

A missing, unreadable or broken settings file gives a warning and the defaults (field by
field where possible), never a crash: the app must always start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cer_desktop.option_values import QUANTS

__all__ = [
    "CREDENTIALS_NOTE",
    "QUANTS",
    "AppSettings",
    "load_settings",
    "save_settings",
    "strip_url_credentials",
]

log = logging.getLogger(__name__)

ENV_CONFIG_DIR = "CER_DESKTOP_CONFIG_DIR"
FILE_NAME = "settings.json"


API_KEY_ENV = "CER_API_KEY"
CREDENTIALS_NOTE = (
    "the user name and password in the server URL were removed: they are never saved, shown "
    f"or sent. Put the server's API key in the {API_KEY_ENV} environment variable instead."
)


def strip_url_credentials(url: str) -> tuple[str, bool]:
    """`url` without a `user:password@` part, and whether it had one. A server URL is saved
    here and shown in status bars and manifests; a password in it would be too, so it is
    removed before any of that (the API key comes from `CER_API_KEY` only)."""
    raw = (url or "").strip()
    scheme = "://" in raw
    parts = urlsplit(raw if scheme else f"//{raw}")
    if "@" not in parts.netloc:
        return raw, False
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return (clean if scheme else clean.removeprefix("//")), True


def _default_record_folder() -> str:
    try:
        import platformdirs

        return str(Path(platformdirs.user_videos_dir()) / "cer-desktop")
    except Exception:  # odd platforms without a videos folder
        return str(Path.home() / "cer-desktop-recordings")


@dataclass(slots=True)
class AppSettings:
    """Everything the GUI remembers between runs."""

    source: str = "auto"  # "auto" (first camera, else demo), "demo", "camera:N", or a path
    camera_index: int = 0
    label_set: str = "raf_compound+neutral"
    smoothing: float = 0.5  # 0 = off .. 0.99
    max_faces: int = 4
    show_aus: bool = False
    model_base: str = ""  # hub id or local folder; empty = the instant recognizer
    model_adapter: str = ""  # adapter folder or hub id; empty = none
    model_quant: str = "none"  # none | nf4 | int8
    threshold: float = 0.0  # under this top probability a face shows "uncertain"
    # remote server (OpenAI-compatible, e.g. vLLM); empty = local. The API key is never
    # stored here: it comes from CER_API_KEY only.
    remote_url: str = ""
    remote_model: str = ""
    remote_meta: str = ""  # the served model's cer_adapter.json (or its folder); may be empty
    remote_deadline: float = 3.0  # live: seconds a frame waits for the server, then instant
    record_folder: str = field(default_factory=_default_record_folder)
    record_raw: bool = False
    recent_files: list[str] = field(default_factory=list)
    window_geometry: str = ""  # Qt's saveGeometry(), base64; empty = the default size
    window_state: str = ""  # Qt's saveState() (docks, toolbars), base64
    # live streams (cer_desktop/streams). Addresses are kept when a stream is off; the
    # WebSocket token is never stored here: it comes from CER_STREAM_TOKEN only.
    stream_lsl: bool = False
    stream_ws: bool = False
    stream_ws_address: str = "127.0.0.1:8765"
    stream_osc: bool = False
    stream_osc_address: str = "127.0.0.1:9000"
    stream_lsl_markers: str = ""  # the experiment's marker stream; empty = no inlet

    def validated(self) -> AppSettings:
        """A copy with out-of-range values replaced by the defaults (with a warning)."""
        d = AppSettings()
        s = dataclasses.replace(self, recent_files=list(self.recent_files))
        if not 0.0 <= s.smoothing <= 0.99:
            s.smoothing = min(max(s.smoothing, 0.0), 0.99)
        if not 1 <= s.max_faces <= 16:
            log.warning("settings: max_faces %s out of 1..16, using %s", s.max_faces, d.max_faces)
            s.max_faces = d.max_faces
        if s.model_quant not in QUANTS:
            log.warning("settings: unknown quantisation %r, using none", s.model_quant)
            s.model_quant = "none"
        if not 0.0 <= s.threshold <= 1.0:
            s.threshold = d.threshold
        if s.camera_index < 0:
            s.camera_index = 0
        if not 0.2 <= s.remote_deadline <= 120.0:
            log.warning("settings: remote_deadline %s out of 0.2..120 s", s.remote_deadline)
            s.remote_deadline = d.remote_deadline
        s.remote_url, had = strip_url_credentials(s.remote_url)
        if had:  # a file saved by an older version, or edited by hand
            log.warning("settings: %s", CREDENTIALS_NOTE)
        return s


def config_dir() -> Path:
    """The folder settings live in: $CER_DESKTOP_CONFIG_DIR, else platformdirs' user config dir."""
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("cer-desktop"))


def cache_dir() -> Path:
    """Where fetched files live (the face landmarker model, Qwen2's vocabulary):
    ``${XDG_CACHE_HOME:-~/.cache}/cer-desktop``, the folder `scripts/fetch-*.sh` write to (on
    every platform, so the scripts and the app agree; not platformdirs' cache folder)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root).expanduser() / "cer-desktop"


def settings_path() -> Path:
    return config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> AppSettings:
    """Read settings; a missing file gives defaults, a broken one a warning and defaults."""
    path = path or settings_path()
    if not path.exists():
        return AppSettings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        kept = _keep_broken(path)
        log.warning("settings file %s is unreadable (%s); using the defaults%s", path, exc, kept)
        return AppSettings()
    if not isinstance(raw, dict):
        kept = _keep_broken(path)
        log.warning("settings file %s does not hold an object; using the defaults%s", path, kept)
        return AppSettings()
    return _from_dict(raw, str(path))


def _keep_broken(path: Path) -> str:
    """Copy a broken settings file to `NAME.broken` before the app saves over it on exit
    (a hand edit with one typo is not lost); returns a note for the warning."""
    backup = path.with_name(path.name + ".broken")
    try:
        shutil.copyfile(path, backup)
    except OSError as exc:
        return f" (could not keep a copy: {exc})"
    return f"; the broken file is kept as {backup}"


def _from_dict(raw: dict[str, Any], where: str) -> AppSettings:
    defaults = AppSettings()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(AppSettings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(defaults, f.name)
        ok = _type_ok(value, default)
        if ok is None:
            log.warning(
                "settings %s: %s=%r has the wrong type; using the default", where, f.name, value
            )
            continue
        values[f.name] = ok
    unknown = set(raw) - {f.name for f in dataclasses.fields(AppSettings)}
    if unknown:
        log.info("settings %s: ignoring unknown keys %s", where, ", ".join(sorted(unknown)))
    return AppSettings(**values).validated()


def _type_ok(value: Any, default: Any) -> Any:
    """`value` converted to the type of `default`, or None when it does not fit."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None
    if isinstance(default, str):
        return value if isinstance(value, str) else None
    if isinstance(default, list):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    return None


def save_settings(settings: AppSettings, path: Path | None = None) -> Path | None:
    """Write settings atomically; returns the path, or None (with a warning) when it failed."""
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = dataclasses.asdict(settings)
        fields["remote_url"] = strip_url_credentials(settings.remote_url)[0]  # never a password
        data = json.dumps(fields, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("could not save settings to %s: %s", path, exc)
        return None
    return path
