"""What a recognizer puts in a session's manifest: its name and version and, for a model, what
really runs (base, adapter, quantisation, dtype, device, prompt). The manifest itself is
`session_folder.Manifest`."""

from __future__ import annotations

from typing import Any

from cer_desktop import __version__


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
