"""Packets in, flow records out: sources, decoding engines, the flow table and writers.

See docs/collectors.md for the contract every engine keeps.
"""

from collectors._communityid import community_id, icmp_ports
from collectors._config import DEFAULT_IDLE, FlowConfig, parse_idle_timeouts
from collectors._engine import Engine
from collectors._engines import ENGINES, make_engine
from collectors._live import LiveSource, LiveStats
from collectors._packets import PacketBatch
from collectors._pcapfile import FileSource
from collectors._ring import RingSource
from collectors._schema import FLOW_FIELDS, FLOW_SCHEMA, EndReason, empty_flows
from collectors._sources import PacketSource, open_source

__all__ = [
    "DEFAULT_IDLE",
    "ENGINES",
    "EndReason",
    "Engine",
    "FLOW_FIELDS",
    "FLOW_SCHEMA",
    "FileSource",
    "FlowConfig",
    "LiveSource",
    "LiveStats",
    "PacketBatch",
    "PacketSource",
    "RingSource",
    "community_id",
    "empty_flows",
    "icmp_ports",
    "make_engine",
    "open_source",
    "parse_idle_timeouts",
]
