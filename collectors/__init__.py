"""Packets in, flow records out: sources, decoding engines, the flow table and writers.

Flow records from routers come in too (NetFlow v5 / v9, IPFIX listeners) and go out as IPFIX.

See docs/collectors.md for the contract every engine keeps. The flow settings and the
batch type load at once; the rest on first use, so that a command pays only for the parts
it runs (a capture read does not load the IPFIX decoder), and a collect run starts its
engine before Arrow has loaded (Arrow loads on the writing thread meanwhile).
"""

import typing as _typing

from collectors._config import DEFAULT_IDLE, FlowConfig, parse_idle_timeouts
from collectors._engine import Engine
from collectors._packets import PacketBatch
from policies import lazy_attributes as _lazy_attributes

if _typing.TYPE_CHECKING:
    from collectors._collect import Collector, CollectSummary
    from collectors._communityid import community_id, icmp_ports
    from collectors._engines import ENGINES, make_engine
    from collectors._flowurl import ListenOptions, is_flow_url
    from collectors._ipfix_decode import FlowDecoder
    from collectors._ipfix_encode import IpfixEncoder
    from collectors._ipfix_export import IpfixExporter, read_ipfix_file
    from collectors._ipfix_listen import FlowListener
    from collectors._ipfix_records import flow_table
    from collectors._ipfix_stats import FlowStats
    from collectors._live import LiveSource, LiveStats
    from collectors._pcapfile import FileSource
    from collectors._readers import READ_FORMATS, read_flow_file
    from collectors._ring import RingSource
    from collectors._schema import FLOW_FIELDS, FLOW_SCHEMA, EndReason, empty_flows
    from collectors._sources import PacketSource, open_source
    from collectors._writers import FORMATS, FlowWriter, open_writer

_LAZY: dict[str, str] = {
    "CollectSummary": "collectors._collect",
    "Collector": "collectors._collect",
    "ENGINES": "collectors._engines",
    "EndReason": "collectors._schema",
    "FLOW_FIELDS": "collectors._schema",
    "FLOW_SCHEMA": "collectors._schema",
    "FORMATS": "collectors._writers",
    "FileSource": "collectors._pcapfile",
    "FlowDecoder": "collectors._ipfix_decode",
    "FlowListener": "collectors._ipfix_listen",
    "FlowStats": "collectors._ipfix_stats",
    "FlowWriter": "collectors._writers",
    "IpfixEncoder": "collectors._ipfix_encode",
    "IpfixExporter": "collectors._ipfix_export",
    "ListenOptions": "collectors._flowurl",
    "LiveSource": "collectors._live",
    "LiveStats": "collectors._live",
    "PacketSource": "collectors._sources",
    "READ_FORMATS": "collectors._readers",
    "RingSource": "collectors._ring",
    "community_id": "collectors._communityid",
    "empty_flows": "collectors._schema",
    "flow_table": "collectors._ipfix_records",
    "icmp_ports": "collectors._communityid",
    "is_flow_url": "collectors._flowurl",
    "make_engine": "collectors._engines",
    "open_source": "collectors._sources",
    "open_writer": "collectors._writers",
    "read_flow_file": "collectors._readers",
    "read_ipfix_file": "collectors._ipfix_export",
}


__getattr__ = _lazy_attributes("collectors", _LAZY, globals())


__all__ = [
    "CollectSummary",
    "Collector",
    "DEFAULT_IDLE",
    "ENGINES",
    "EndReason",
    "Engine",
    "FLOW_FIELDS",
    "FLOW_SCHEMA",
    "FORMATS",
    "FileSource",
    "FlowConfig",
    "FlowDecoder",
    "FlowListener",
    "FlowStats",
    "FlowWriter",
    "IpfixEncoder",
    "IpfixExporter",
    "ListenOptions",
    "LiveSource",
    "LiveStats",
    "PacketBatch",
    "PacketSource",
    "READ_FORMATS",
    "RingSource",
    "community_id",
    "empty_flows",
    "flow_table",
    "icmp_ports",
    "is_flow_url",
    "make_engine",
    "open_source",
    "open_writer",
    "parse_idle_timeouts",
    "read_flow_file",
    "read_ipfix_file",
]
