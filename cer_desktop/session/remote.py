"""A remote server as the GUI reaches it: a connection probe, where faces go (its settings are
a `RecognizerChoice`)."""

from __future__ import annotations

from cer_desktop.recognition.remote.transport import is_loopback_address
from cer_desktop.settings import API_KEY_ENV, CREDENTIALS_NOTE, strip_url_credentials

__all__ = [
    "API_KEY_ENV",
    "CREDENTIALS_NOTE",
    "looks_local",
    "probe",
    "strip_url_credentials",
]


def looks_local(host: str) -> bool:
    """For display only (no DNS lookup, so it can run on every keystroke): a loopback address
    or a `localhost` name. Whether the API key may go there is decided by the client, which
    resolves the name and checks every address."""
    host = host.strip("[]").lower()
    return is_loopback_address(host) or host == "localhost" or host.endswith(".localhost")


def probe(url: str, model: str, timeout: float = 10.0) -> tuple[bool, str]:
    """(ok, message): what the server is and how it scores, or why it cannot be used."""
    import dataclasses

    from cer_desktop.recognition.remote.probe import probe_server
    from cer_desktop.session.choice import RecognizerChoice

    try:
        # the choice's own config, asked once: no retries, a short wait
        config = RecognizerChoice(server=url, served_model=model).to_spec()
        info = probe_server(dataclasses.replace(config, timeout=timeout, retries=0))
    except Exception as exc:  # every failure is a message for the page
        return False, f"{type(exc).__name__}: {exc}"
    notes = "; ".join(info.notes)
    return True, f"OK: {info.engine}, scoring by {info.mode}" + (f" ({notes})" if notes else "")
