"""Flow-listener URLs (``netflow://``, ``ipfix://``, ``ipfix+tcp://``) and the listener's options.

Kept apart from the listener so that a collect run over captures tells a URL from a file
without loading the IPFIX decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from policies import ConfigError

SCHEMES: dict[str, tuple[str, frozenset[int]]] = {
    "netflow": ("udp", frozenset({5, 9, 10})),
    "ipfix": ("udp", frozenset({10})),
    "ipfix+tcp": ("tcp", frozenset({10})),
}


@dataclass(frozen=True)
class ListenOptions:
    """How a flow listener runs and when it stops (None: never on that ground)."""

    stop_after_messages: int | None = None
    stop_when_idle: float | None = None
    template_timeout: float = 1800.0
    pending_timeout: float = 10.0
    flush_every: float = 1.0
    receive_buffer: int = 32 << 20
    queue_bytes: int = 256 << 20
    tap_id: str = "tap0"


def is_flow_url(spec: str) -> bool:
    """Whether ``spec`` names a flow listener rather than a capture."""
    return spec.partition("://")[0].lower() in SCHEMES and "://" in spec


def parse_flow_url(spec: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a listener URL; ConfigError naming the part that is wrong."""
    parts = urlsplit(spec)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"{spec!r}: scheme must be one of {', '.join(SCHEMES)}", field="source")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{spec!r}: {exc}", field="source") from exc
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"{spec!r}: expected {scheme}://HOST:PORT", field="source")
    return scheme, parts.hostname, port
