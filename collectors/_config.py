"""Flow-table settings shared by every engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from policies import ConfigError

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58

# Zeek's inactivity timeouts, in seconds.
DEFAULT_IDLE = {"tcp": 300.0, "udp": 60.0, "icmp": 60.0, "other": 60.0}


@dataclass(frozen=True)
class FlowConfig:
    """How flows are keyed, ended and bounded (docs/collectors.md, "Flows")."""

    idle_timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_IDLE))
    active_timeout: float = 1800.0
    tcp_close_delay: float = 5.0
    max_flows: int = 500_000
    tap_id: str = "tap0"

    def __post_init__(self) -> None:
        unknown = set(self.idle_timeouts) - set(DEFAULT_IDLE)
        if unknown:
            raise ConfigError(
                f"unknown protocol class {sorted(unknown)}; use tcp, udp, icmp, other", field="idle-timeout"
            )
        for name, value in self.idle_timeouts.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}", field="idle-timeout")
        if self.active_timeout <= 0:
            raise ConfigError(f"must be positive, got {self.active_timeout}", field="active-timeout")
        if self.max_flows < 8:
            raise ConfigError(f"must be at least 8, got {self.max_flows}", field="max-flows")

    def idle_us(self, proto: int) -> int:
        """The idle timeout for an IP protocol, in microseconds."""
        if proto == TCP:
            name = "tcp"
        elif proto == UDP:
            name = "udp"
        elif proto in (ICMP, ICMP6):
            name = "icmp"
        else:
            name = "other"
        return int(self.idle_timeouts.get(name, DEFAULT_IDLE[name]) * 1_000_000)

    @property
    def active_us(self) -> int:
        return int(self.active_timeout * 1_000_000)

    @property
    def close_delay_us(self) -> int:
        return int(self.tcp_close_delay * 1_000_000)


def parse_idle_timeouts(text: str) -> dict[str, float]:
    """``"120"`` (every protocol) or ``"tcp=300,udp=60"`` (the rest keep Zeek's defaults)."""
    result = dict(DEFAULT_IDLE)
    text = text.strip()
    try:
        if "=" not in text:
            seconds = float(text)
            return {name: seconds for name in result}
        for part in text.split(","):
            name, _, value = part.partition("=")
            name = name.strip().lower()
            if name not in result:
                raise ConfigError(f"unknown protocol class {name!r}; use tcp, udp, icmp, other", field="idle-timeout")
            result[name] = float(value)
    except ValueError as exc:
        raise ConfigError(f"not a number of seconds: {text!r}", field="idle-timeout") from exc
    return result
