"""What to stream where: `StreamsConfig`, host:port parsing, OSC-safe label slugs, the token."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

TOKEN_ENV = "CER_STREAM_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_WS_PORT = 8765
DEFAULT_OSC_PORT = 9000
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class StreamsError(RuntimeError):
    """A stream cannot start (a missing library, a bad address, no token); the message is for
    people and the session goes on without that stream."""


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    """Which streams are on. Empty strings switch a stream off.

    lsl: the "cer-desktop expressions" and "cer-desktop markers" LSL outlets.
    ws: "HOST:PORT" the WebSocket server binds (127.0.0.1 by default; another address needs
        `CER_STREAM_TOKEN`).
    osc: "HOST:PORT" OSC messages are sent to over UDP.
    lsl_markers: the experiment's marker stream to read: a stream name, or
        `key=value[,key=value]` with keys name, type, source_id.
    """

    lsl: bool = False
    ws: str = ""
    osc: str = ""
    lsl_markers: str = ""

    @property
    def any(self) -> bool:
        return bool(self.lsl or self.ws or self.osc or self.lsl_markers)

    @property
    def uses_lsl(self) -> bool:
        return bool(self.lsl or self.lsl_markers)


def parse_host_port(
    text: str, default_port: int, default_host: str = DEFAULT_HOST
) -> tuple[str, int]:
    """ "HOST:PORT", ":PORT", "PORT" or "HOST" -> (host, port); IPv6 as "[::1]:PORT".

    Raises `StreamsError` for a port outside 1..65535 or text that is not an address."""
    t = text.strip()
    host, port_text = default_host, ""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d*))?", t)
    if m:
        host, port_text = m.group(1), m.group(2) or ""
    elif t.isdigit():
        port_text = t
    elif t.count(":") == 1:
        host, port_text = t.split(":")
        host = host or default_host
    elif t and ":" not in t:
        host = t
    elif t:
        raise StreamsError(f"not a HOST:PORT address: {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError as exc:
        raise StreamsError(f"not a port number in {text!r}") from exc
    if not 1 <= port <= 65535:
        raise StreamsError(f"port {port} is outside 1..65535")
    if not re.fullmatch(r"[A-Za-z0-9.\-:_]+", host):
        raise StreamsError(f"not a host name: {host!r}")
    return host, port


def format_host_port(host: str, port: int) -> str:
    """The inverse of `parse_host_port` ("[::1]:9000" for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stream_token(environ: dict[str, str] | None = None) -> str:
    """The WebSocket token from `CER_STREAM_TOKEN` (never saved in the settings)."""
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV, "").strip()


def slug(label: str) -> str:
    """An OSC-safe address part for a label: "Happily Surprised" -> "happily_surprised".

    Lower case; every run of characters other than a-z and 0-9 becomes one "_"; no "_" at
    either end. OSC addresses may not hold spaces, and `#*,/?[]{}` are pattern characters.
    """
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "label"


def marker_query(spec: str) -> str:
    """The LSL XPath predicate for a marker stream chosen by "NAME" or by
    "key=value[,key=value]" (keys: name, type, source_id)."""
    spec = spec.strip()
    if not spec:
        raise StreamsError("no marker stream named")
    pairs: list[tuple[str, str]] = []
    if "=" in spec:
        for part in spec.split(","):
            key, _, value = part.partition("=")
            key = key.strip().lower()
            if key not in ("name", "type", "source_id") or not value.strip():
                raise StreamsError(
                    f"marker stream: expected name=, type= or source_id=, got {part!r}"
                )
            pairs.append((key, value.strip()))
    else:
        pairs.append(("name", spec))
    for _, value in pairs:
        if "'" in value:
            raise StreamsError(f"a quote in a marker stream's {value!r} is not supported")
    return " and ".join(f"{key}='{value}'" for key, value in pairs)
