"""A remote server as the GUI reaches it: its settings, a connection probe, where faces go."""

from __future__ import annotations

from typing import Any

from cer_desktop.recognition.remote.transport import is_loopback_address
from cer_desktop.settings import API_KEY_ENV, CREDENTIALS_NOTE, strip_url_credentials

__all__ = [
    "API_KEY_ENV",
    "CREDENTIALS_NOTE",
    "looks_local",
    "probe",
    "server_config",
    "strip_url_credentials",
]


def looks_local(host: str) -> bool:
    """For display only (no DNS lookup, so it can run on every keystroke): a loopback address
    or a `localhost` name. Whether the API key may go there is decided by the client, which
    resolves the name and checks every address."""
    host = host.strip("[]").lower()
    return is_loopback_address(host) or host == "localhost" or host.endswith(".localhost")


def server_config(url: str, model: str, model_meta: str = "", live_deadline: float = 3.0) -> Any:
    """The `ServerConfig` (raises its `RemoteError` for a bad URL or an empty model name).
    `live_deadline`: seconds a live frame waits for the server before the instant tier answers."""
    from cer_desktop.recognition.remote.client import ServerConfig

    return ServerConfig(url, model, model_meta=model_meta, live_deadline=live_deadline)


def probe(url: str, model: str, timeout: float = 10.0) -> tuple[bool, str]:
    """(ok, message): what the server is and how it scores, or why it cannot be used."""
    from cer_desktop.recognition.remote.client import ServerConfig
    from cer_desktop.recognition.remote.probe import probe_server

    try:
        info = probe_server(ServerConfig(url, model, timeout=timeout, retries=0))
    except Exception as exc:  # every failure is a message for the page
        return False, f"{type(exc).__name__}: {exc}"
    notes = "; ".join(info.notes)
    return True, f"OK: {info.engine}, scoring by {info.mode}" + (f" ({notes})" if notes else "")
