"""Detector thresholds: a pydantic model with documented defaults, loaded from YAML.

Every threshold has a default that fits a carrier tap; a YAML file overrides what it names
and nothing else (docs/detectors.md lists them all). Unknown keys are errors, never ignored:
a misspelt threshold must not silently fall back to its default. Times are seconds of flow
time.

    horizontal_scan:
      min_targets: 30
    beaconing:
      enabled: false
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies import ConfigError

PROTOCOLS: dict[str, int] = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "sctp": 132}
PROTOCOL_NAMES: dict[int, str] = {number: name for name, number in PROTOCOLS.items()}


def _service(text: str) -> str:
    proto, _, port = text.partition("/")
    if proto not in PROTOCOLS or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"a service is PROTOCOL/PORT with PROTOCOL one of {', '.join(PROTOCOLS)}: {text!r}")
    return f"{proto}/{int(port)}"


Service = Annotated[str, AfterValidator(_service)]
Seconds = Annotated[int, Field(gt=0, le=7 * 86_400)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def parse_service(text: str) -> tuple[int, int]:
    """``tcp/22`` as (6, 22)."""
    proto, _, port = _service(text).partition("/")
    return PROTOCOLS[proto], int(port)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class HorizontalScanConfig(_Section):
    """One outside source, one service, many destinations (T1046)."""

    window: Seconds = 600
    min_targets: Annotated[int, Field(ge=2)] = 25
    min_probe_fraction: Fraction = 0.6
    slow_window: Annotated[int, Field(ge=0)] = 21_600
    slow_min_targets: Annotated[int, Field(ge=2)] = 40
    slow_min_probe_fraction: Fraction = 0.8

    @model_validator(mode="after")
    def _slow_is_slower(self) -> Self:
        if self.slow_window and self.slow_window <= self.window:
            raise ValueError("slow_window must be longer than window (or 0 to turn slow scans off)")
        return self


class VerticalScanConfig(_Section):
    """One outside source, one destination, many services (T1046)."""

    window: Seconds = 600
    min_ports: Annotated[int, Field(ge=2)] = 20
    min_probe_fraction: Fraction = 0.6
    slow_window: Annotated[int, Field(ge=0)] = 21_600
    slow_min_ports: Annotated[int, Field(ge=2)] = 40
    slow_min_probe_fraction: Fraction = 0.8

    @model_validator(mode="after")
    def _slow_is_slower(self) -> Self:
        if self.slow_window and self.slow_window <= self.window:
            raise ValueError("slow_window must be longer than window (or 0 to turn slow scans off)")
        return self


AUTH_SERVICES = (
    "tcp/21",  # FTP
    "tcp/22",  # SSH
    "tcp/23",  # Telnet
    "tcp/110",  # POP3
    "tcp/143",  # IMAP
    "tcp/389",  # LDAP
    "tcp/445",  # SMB
    "tcp/993",  # IMAPS
    "tcp/995",  # POP3S
    "tcp/1433",  # MS SQL
    "tcp/3306",  # MySQL
    "tcp/3389",  # RDP
    "tcp/5060",  # SIP
    "udp/5060",  # SIP
    "tcp/5061",  # SIP over TLS
    "tcp/5432",  # PostgreSQL
    "tcp/5900",  # VNC
    "tcp/5985",  # WinRM
    "tcp/2323",  # Telnet (IoT)
)


class BruteForceConfig(_Section):
    """Many short sessions from one outside source to authentication services (T1110)."""

    window: Seconds = 300
    min_attempts: Annotated[int, Field(ge=2)] = 30
    services: tuple[Service, ...] = AUTH_SERVICES
    min_orig_packets: Annotated[int, Field(ge=1)] = 4
    max_duration: Annotated[float, Field(gt=0)] = 60.0
    max_orig_bytes: Annotated[int, Field(ge=1)] = 20_000


class BeaconingConfig(_Section):
    """Connections from inside to one outside endpoint at a regular interval (T1071)."""

    window: Seconds = 3600
    min_beats: Annotated[int, Field(ge=3)] = 8
    min_period: Annotated[float, Field(gt=0)] = 10.0
    max_period: Annotated[float, Field(gt=0)] = 900.0
    min_regularity: Fraction = 0.8
    merge_within: Annotated[float, Field(ge=0)] = 2.0
    max_clients: Annotated[int, Field(ge=1)] = 20
    ignore: tuple[Service, ...] = ("udp/53", "tcp/53", "udp/123", "udp/5353", "udp/67", "udp/68")

    @model_validator(mode="after")
    def _periods(self) -> Self:
        if self.min_period >= self.max_period:
            raise ValueError("min_period must be below max_period")
        if self.max_period * (self.min_beats - 1) > 2 * self.window:
            raise ValueError("max_period * (min_beats - 1) beats cannot fit in two windows: widen window")
        return self


class DdosConfig(_Section):
    """Volumetric fan-in toward one target, mostly unanswered (T1498.001, T1499.001)."""

    window: Seconds = 60
    min_packets: Annotated[int, Field(ge=1)] = 20_000
    min_sources: Annotated[int, Field(ge=1)] = 20
    max_answer_ratio: Fraction = 0.2


REFLECTION_PORTS = (
    17,  # QOTD
    19,  # chargen
    53,  # DNS
    69,  # TFTP
    111,  # portmapper
    123,  # NTP
    137,  # NetBIOS
    161,  # SNMP
    389,  # CLDAP
    520,  # RIP
    1434,  # MS SQL browser
    1900,  # SSDP
    3283,  # Apple Remote Desktop
    3702,  # WS-Discovery
    5353,  # mDNS
    10001,  # Ubiquiti discovery
    11211,  # memcached
)


class ReflectionConfig(_Section):
    """UDP from amplifying services fanning in toward one victim (T1498.002)."""

    window: Seconds = 60
    ports: tuple[Annotated[int, Field(ge=0, le=65535)], ...] = REFLECTION_PORTS
    min_reflectors: Annotated[int, Field(ge=1)] = 5
    min_response_bytes: Annotated[int, Field(ge=1)] = 1_000_000
    min_ratio: Annotated[float, Field(ge=1.0)] = 10.0


class IndicatorConfig(_Section):
    """Flows touching an address the partner indicated (sightings)."""

    window: Seconds = 3600
    default_confidence: Annotated[int, Field(ge=0, le=100)] = 50
    default_technique: Annotated[str, Field(pattern=r"^T\d{4}(\.\d{3})?$")] = "T1071"


class DetectorConfig(BaseModel):
    """All detectors' thresholds, and the bounds every detector keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lateness: Annotated[int, Field(ge=0, le=86_400)] = 2400
    max_evidence: Annotated[int, Field(ge=1)] = 100
    max_listed: Annotated[int, Field(ge=1)] = 50
    max_window_rows: Annotated[int, Field(ge=1000)] = 4_000_000
    horizontal_scan: HorizontalScanConfig = HorizontalScanConfig()
    vertical_scan: VerticalScanConfig = VerticalScanConfig()
    brute_force: BruteForceConfig = BruteForceConfig()
    beaconing: BeaconingConfig = BeaconingConfig()
    ddos: DdosConfig = DdosConfig()
    reflection: ReflectionConfig = ReflectionConfig()
    indicators: IndicatorConfig = IndicatorConfig()


def load_detector_config(path: str | Path | None) -> DetectorConfig:
    """The thresholds in a YAML file (its keys override the defaults); the defaults for None."""
    if path is None:
        return DetectorConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the detector configuration: {exc}", field="config") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", field="config") from exc
    if data is None:
        return DetectorConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the detector configuration must be a mapping", field="config")
    try:
        return DetectorConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{path}: {error['msg']}", field=where or "config") from exc
