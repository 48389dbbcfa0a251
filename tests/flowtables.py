"""Small FlowRecord tables built by hand, for the gate's and detectors' unit tests."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from collectors import FLOW_SCHEMA, community_id

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def flow(orig: str, resp: str, *, start: datetime = T0, seconds: float = 1.0, **fields: Any) -> dict[str, Any]:
    """One record; the flow id is the real Community ID of its tuple."""
    proto = fields.pop("proto", 6)
    orig_port, resp_port = fields.pop("orig_port", 40000), fields.pop("resp_port", 443)
    row: dict[str, Any] = {
        "flow_id": community_id(
            proto, ipaddress.ip_address(orig).packed, ipaddress.ip_address(resp).packed, orig_port, resp_port
        ),
        "start": start,
        "end": datetime.fromtimestamp(start.timestamp() + seconds, UTC),
        "ip_version": 6 if ":" in orig else 4,
        "proto": proto,
        "orig_addr": orig,
        "orig_port": orig_port,
        "resp_addr": resp,
        "resp_port": resp_port,
        "orig_pkts": 3,
        "resp_pkts": 2,
        "orig_ip_bytes": 300,
        "resp_ip_bytes": 200,
        "orig_tcp_flags": 0x1B,
        "resp_tcp_flags": 0x1B,
        "history": "ShADadFf",
        "conn_state": "SF",
        "vlan": None,
        "inner_vlan": None,
        "mpls": [],
        "tunnel": None,
        "tunnel_parents": [],
        "end_reason": "tcp_end",
        "tap_id": "tap0",
        "dns_qname": None,
        "tls_sni": None,
        "http_host": None,
    }
    row.update(fields)
    return row


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FLOW_SCHEMA)
