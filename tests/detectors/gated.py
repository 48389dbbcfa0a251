"""Hand-built GatedRecord tables for the detectors' unit tests.

Rows are FlowRecords (tests/flowtables.py) given the gate's columns directly: the traffic
class from the test site's domestic space, the domestic side left as written, so a test can
name the addresses it expects. One test (test_chain.py) runs the real gate in front.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from detectors import DetectorChain, DetectorConfig, Finding, IndicatorSet
from filters import gated_schema
from policies import load_profile
from tests.flowtables import T0, flow

DOMESTIC = tuple(
    ipaddress.ip_network(p)
    for p in ("192.0.2.0/24", "203.0.113.0/24", "2001:db8:a::/48", "10.0.0.0/8", "100.64.0.0/10")
)
SCHEMA = gated_schema(load_profile("jp-acd").fields)


def domestic(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in DOMESTIC if net.version == ip.version)


def traffic_class(orig: str, resp: str) -> str:
    return f"{'domestic' if domestic(orig) else 'foreign'}-to-{'domestic' if domestic(resp) else 'foreign'}"


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def gflow(orig: str, resp: str, *, t: float = 0.0, **fields: Any) -> dict[str, Any]:
    """One gated row: a flow starting ``t`` seconds after T0."""
    row = flow(orig, resp, start=at(t), **fields)
    row["traffic_class"] = traffic_class(orig, resp)
    row["approval_id"] = "OC-2024-017"
    row["pseudonym_method"] = "cryptopan"
    row["pseudonym_key"] = "k2024"
    row["retain_until"] = datetime(2026, 3, 1, tzinfo=UTC)
    row["policy"] = "test-carrier"
    for name in ("dns_qname", "tls_sni", "http_host"):
        row.pop(name, None)
    return row


def probe(orig: str, resp: str, *, t: float = 0.0, port: int = 22, **fields: Any) -> dict[str, Any]:
    """An unanswered SYN from ``orig`` to ``resp:port``."""
    values: dict[str, Any] = {
        "orig_port": 40000,
        "resp_port": port,
        "seconds": 0.0,
        "orig_pkts": 1,
        "resp_pkts": 0,
        "orig_ip_bytes": 44,
        "resp_ip_bytes": 0,
        "orig_tcp_flags": 0x02,
        "resp_tcp_flags": 0,
        "history": "S",
        "conn_state": "S0",
        "end_reason": "idle",
    }
    values.update(fields)
    return gflow(orig, resp, t=t, **values)


def session(orig: str, resp: str, *, t: float = 0.0, port: int = 443, **fields: Any) -> dict[str, Any]:
    """A complete TCP session with data both ways."""
    values: dict[str, Any] = {
        "orig_port": 40000,
        "resp_port": port,
        "seconds": 2.0,
        "orig_pkts": 8,
        "resp_pkts": 7,
        "orig_ip_bytes": 1500,
        "resp_ip_bytes": 4000,
    }
    values.update(fields)
    return gflow(orig, resp, t=t, **values)


def gated(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def detect(
    table: pa.Table, config: DetectorConfig | None = None, indicators: IndicatorSet | None = None
) -> list[Finding]:
    """Every finding of one table fed whole."""
    chain = DetectorChain(config, indicators=indicators)
    chain.feed(table)
    return chain.finish()


def only(config: str, **thresholds: Any) -> DetectorConfig:
    """A configuration with every detector off but ``config`` (with ``thresholds``)."""
    sections = ("horizontal_scan", "vertical_scan", "brute_force", "beaconing", "ddos", "reflection", "indicators")
    data: dict[str, Any] = {name: {"enabled": name == config} for name in sections}
    data[config].update(thresholds)
    return DetectorConfig.model_validate(data)
