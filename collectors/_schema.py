"""The FlowRecord: one Arrow row per flow, Zeek conn.log semantics (DESIGN.md, "Data model").

No field can hold payload bytes: every field is a number, an address, a short label from a
closed vocabulary, or application metadata (names) that only the tshark engine fills.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

_TS = pa.timestamp("us", tz="UTC")

FLOW_SCHEMA = pa.schema(
    [
        pa.field("flow_id", pa.string(), nullable=False),
        pa.field("start", _TS, nullable=False),
        pa.field("end", _TS, nullable=False),
        pa.field("ip_version", pa.uint8(), nullable=False),
        pa.field("proto", pa.uint8(), nullable=False),
        pa.field("orig_addr", pa.string(), nullable=False),
        pa.field("orig_port", pa.uint16(), nullable=False),
        pa.field("resp_addr", pa.string(), nullable=False),
        pa.field("resp_port", pa.uint16(), nullable=False),
        pa.field("orig_pkts", pa.uint64(), nullable=False),
        pa.field("resp_pkts", pa.uint64(), nullable=False),
        pa.field("orig_ip_bytes", pa.uint64(), nullable=False),
        pa.field("resp_ip_bytes", pa.uint64(), nullable=False),
        pa.field("orig_tcp_flags", pa.uint8(), nullable=False),
        pa.field("resp_tcp_flags", pa.uint8(), nullable=False),
        pa.field("history", pa.string(), nullable=False),
        pa.field("conn_state", pa.string(), nullable=False),
        pa.field("vlan", pa.uint16()),
        pa.field("inner_vlan", pa.uint16()),
        pa.field("mpls", pa.list_(pa.uint32()), nullable=False),
        pa.field("tunnel", pa.string()),
        pa.field("tunnel_parents", pa.list_(pa.string()), nullable=False),
        pa.field("end_reason", pa.string(), nullable=False),
        pa.field("tap_id", pa.string(), nullable=False),
        pa.field("dns_qname", pa.string()),
        pa.field("tls_sni", pa.string()),
        pa.field("http_host", pa.string()),
    ]
)

FLOW_FIELDS: tuple[str, ...] = tuple(FLOW_SCHEMA.names)


class EndReason(StrEnum):
    """Why a flow record was written (docs/collectors.md, "Ending a flow")."""

    IDLE = "idle"
    ACTIVE = "active"
    TCP_END = "tcp_end"
    EOF = "eof"
    EVICTED = "evicted"


def empty_flows() -> pa.Table:
    """A table with the flow schema and no rows."""
    return FLOW_SCHEMA.empty_table()
