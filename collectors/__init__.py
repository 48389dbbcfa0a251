"""Packets in, flow records out: sources, decoding engines, the flow table and writers.

See docs/collectors.md for the contract every engine keeps.
"""

from collectors._communityid import community_id, icmp_ports
from collectors._config import DEFAULT_IDLE, FlowConfig, parse_idle_timeouts
from collectors._engine import Engine
from collectors._packets import PacketBatch
from collectors._schema import FLOW_FIELDS, FLOW_SCHEMA, EndReason, empty_flows

__all__ = [
    "DEFAULT_IDLE",
    "EndReason",
    "Engine",
    "FLOW_FIELDS",
    "FLOW_SCHEMA",
    "FlowConfig",
    "PacketBatch",
    "community_id",
    "empty_flows",
    "icmp_ports",
    "parse_idle_timeouts",
]
