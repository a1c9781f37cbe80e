"""The session manifest (manifest.json): what was recorded, with what, and how it ended.

Written when a session starts (status "recording"), updated when the first frame arrives and
finalised on close ("complete"), after a failure ("failed", with `error`) or by recovery
("recovered"). Writes are atomic (temporary file, fsync, rename) so a crash never leaves half
a manifest.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cer_desktop import __version__
from cer_desktop.portable import process
from cer_desktop.recording.csvlog import CSV_SCHEMA_VERSION

MANIFEST_FILE = "manifest.json"
STATUS_RECORDING = "recording"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
STATUS_RECOVERED = "recovered"


class ManifestError(ValueError):
    """A session folder without a readable manifest."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_manifest(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh manifest for a session starting now. `extra` carries model, adapter,
    quantisation, prompt, source... as the caller knows them (keys win over defaults)."""
    m: dict[str, Any] = {
        "app": "cer-desktop",
        "app_version": __version__,
        "frames_csv_schema": CSV_SCHEMA_VERSION,  # absent in older sessions: schema 1
        "status": STATUS_RECORDING,
        "started_at": now_iso(),
        "ended_at": None,
        "host": process.host_name(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "model": None,
        "adapter": None,
        "quantisation": None,
        "prompt": None,
        "recognizer": None,
        "label_set": None,
        "label_sets": [],
        "labels": [],
        "source": None,
        "frame_size": None,
        "fps_nominal": None,
        "fps_measured": None,
        "duration_s": None,
        "frames_submitted": 0,
        "frames_written": 0,
        "frames_dropped": 0,
        "drop_reasons": {},
        "csv_rows": 0,
        "files": {},
        "error": None,
    }
    if extra:
        m.update(extra)
        # Callers spell some keys differently; keep the documented ones filled.
        for alias, key in (("quant", "quantisation"), ("quantization", "quantisation")):
            if m.get(key) is None and extra.get(alias) is not None:
                m[key] = extra[alias]
    return m


def write_manifest(folder: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    """Write `manifest.json` atomically."""
    path = Path(folder) / MANIFEST_FILE
    tmp = path.with_name(MANIFEST_FILE + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # the old manifest stays whole
        raise
    return path


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a session's manifest; raises `ManifestError` when missing or unreadable."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{folder} is not a session folder (no {MANIFEST_FILE})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path} is not a JSON object")
    return data


def recognizer_fields(recognizer: Any, label_set: Any = None) -> dict[str, Any]:
    """Manifest fields describing a recognizer: its name and, for a model, the base model,
    adapter, quantisation, dtype and device (as loaded, not "auto"), mode, threshold and the
    prompt (id and text) it uses for `label_set`. Duck-typed, never raises: unknown parts are left out."""
    fields: dict[str, Any] = {
        "recognizer": getattr(recognizer, "name", type(recognizer).__name__),
        # its own version when it declares one, else the app's (the code that computed it)
        "recognizer_version": str(getattr(recognizer, "version", None) or __version__),
    }
    spec = getattr(recognizer, "spec", None)
    if spec is not None:
        for key, name in (
            ("model", "base"),
            ("adapter", "adapter"),
            ("quantisation", "quant"),
            ("dtype", "dtype"),
            ("device", "device"),
            ("recognizer_mode", "mode"),
            ("threshold", "threshold"),
        ):
            if getattr(spec, name, None) is not None:
                fields[key] = getattr(spec, name)
    else:  # the instant tier: its version (AU values change meaning), still/live mode, and
        # where its AUs come from ("blendshapes" or "geometry")
        for key, name in (
            ("recognizer_version", "version"),
            ("recognizer_mode", "mode"),
            ("au_source", "au_source"),
        ):
            if isinstance(getattr(recognizer, name, None), str):
                fields[key] = getattr(recognizer, name)
    # a remote server (live or `cer annotate`): where, which served model, how it scores,
    # and the instant fallback live (never a key or URL credentials: they are never kept)
    remote = getattr(recognizer, "manifest", None)
    if callable(remote):
        try:
            fields["remote"] = dict(remote())
            fields["model"] = fields["remote"].get("served_model") or fields.get("model")
        except Exception:  # noqa: BLE001 - a manifest detail is never worth a failure
            pass
    # what "auto" became: the dtype and device the loaded model really runs in
    model = getattr(recognizer, "model", None)
    for key in ("dtype", "device"):
        value = getattr(model, key, None)
        if value is not None:
            fields[key] = str(value).removeprefix("torch.")
    # the scoring path that runs ("single-pass + prompt cache", "two-pass", ...)
    path = getattr(getattr(recognizer, "scorer", None), "path", None)
    if path:
        fields["scoring_path"] = str(path)
    try:
        prompt = None
        if label_set is not None and hasattr(recognizer, "prompt_for"):
            prompt = recognizer.prompt_for(label_set)
        prompt = prompt or getattr(recognizer, "prompt", None)
        if prompt is not None:
            fields["prompt"] = {
                "id": getattr(prompt, "id", None),
                "text": getattr(prompt, "text", None),
            }
    except Exception:  # noqa: BLE001 - a manifest detail is never worth a failure
        pass
    return fields
