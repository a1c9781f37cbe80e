"""A remote server as the GUI reaches it: a connection probe, where faces go (its settings are
a `RecognizerChoice`)."""

from __future__ import annotations

from cer_desktop.recognition.remote.client import API_KEY_ENV, is_loopback

__all__ = ["API_KEY_ENV", "is_loopback", "probe"]


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
