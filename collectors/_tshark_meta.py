"""Application names for the ``tshark`` engine: DNS query names, TLS SNI and HTTP Host.

One pyshark pass over a capture file picks the packets that carry one of the names and keys
each by the Community ID of its innermost IP 5-tuple (TCP, UDP or SCTP; ICMP carries none of
these names). :func:`annotate` then attaches them to the flows the fast engine made.

pyshark reads tshark's PDML (``use_json=False``): its JSON mode merges repeated layers, which
would hide the inner IP header of a tunnelled packet. Each run gets an event loop of its own,
closed afterwards, so pyshark never touches the process's current loop or child watcher, and
tshark is left to exit at the end of the file before pyshark reaps it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyshark

from collectors._communityid import SCTP, TCP, UDP, community_id
from policies import CaptureError

DEFAULT_FILTER = "dns.qry.name or tls.handshake.extensions_server_name or http.host"
APP_FIELDS = ("dns_qname", "tls_sni", "http_host")
_EXIT_TIMEOUT = 30.0  # seconds tshark may take to exit after its last packet
_TRANSPORTS = {"tcp": TCP, "udp": UDP, "sctp": SCTP}
# (layer, pyshark field) per AppMeta name
_SOURCES = {"dns_qname": ("dns", "qry_name"), "tls_sni": ("tls", "handshake_extensions_server_name"),
            "http_host": ("http", "host")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppMeta:
    """The names one packet carried, and the flow it belongs to."""

    ts_us: int
    flow_id: str
    dns_qname: str | None = None
    tls_sni: str | None = None
    http_host: str | None = None


def _ts_us(sniff_timestamp: str) -> int:
    """tshark's ``seconds.fraction`` as microseconds (truncated, like the capture readers)."""
    whole, _, frac = sniff_timestamp.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def _packet_meta(packet: Any) -> AppMeta | None:
    """The AppMeta of one pyshark packet, or None when it has no IP 5-tuple or no name."""
    ip: Any = None
    transport: Any = None
    names: dict[str, str] = {}
    for layer in packet.layers:
        kind = layer.layer_name
        if kind in ("ip", "ipv6"):
            ip, transport = layer, None
        elif kind in _TRANSPORTS and ip is not None and transport is None:
            transport = layer
        for name, (source, field) in _SOURCES.items():
            if kind == source and name not in names:
                value = layer.get_field(field)
                if value:
                    names[name] = str(value)
    if ip is None or transport is None or not names:
        return None
    flow_id = community_id(
        _TRANSPORTS[transport.layer_name],
        ipaddress.ip_address(ip.src).packed,
        ipaddress.ip_address(ip.dst).packed,
        int(transport.srcport),
        int(transport.dstport),
    )
    return AppMeta(_ts_us(packet.sniff_timestamp), flow_id, **names)


def app_metadata(path: str, *, display_filter: str = DEFAULT_FILTER) -> list[AppMeta]:
    """The DNS, TLS SNI and HTTP Host names in the capture file ``path``, in packet order."""
    loop = asyncio.new_event_loop()
    try:
        capture = pyshark.FileCapture(path, display_filter=display_filter, keep_packets=False, eventloop=loop)
        return loop.run_until_complete(_read(capture))
    except Exception as exc:  # pyshark raises anything from FileNotFoundError to its own TShark* errors
        raise CaptureError(f"tshark could not read it: {_reason(exc)}", path=path) from exc
    finally:
        _shutdown(loop)


def _reason(exc: Exception) -> str:
    """The useful line of a pyshark error: tshark's own last complaint when it has one."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    last = [line.removeprefix("Last error line: ") for line in lines if line.startswith("Last error line: ")]
    return last[0] if last else lines[0]


async def _read(capture: Any) -> list[AppMeta]:
    """Run tshark over the file, let it exit by itself, then reap it."""
    metas: list[AppMeta] = []

    def collect(packet: Any) -> None:
        meta = _packet_meta(packet)
        if meta is not None:
            metas.append(meta)

    running = capture._running_processes
    try:
        await capture.packets_from_tshark(collect, close_tshark=False)
        # tshark ends at the end of the file. Letting pyshark kill it instead races: the kill
        # reaps an exited tshark behind asyncio's child watcher, which then reports status 255.
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in list(running))), _EXIT_TIMEOUT)
    finally:
        try:
            await capture.close_async()  # kills what still runs; raises for a tshark that failed
        finally:
            # A failed tshark stays listed after close_async() raised; it has exited, and
            # leaving it there makes pyshark's __del__ try again on our closed loop.
            running.difference_update({p for p in running if p.returncode is not None})
    return metas


def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """Finish whatever pyshark left on ``loop`` (stderr readers), then close it."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def annotate(table: pa.Table, metas: list[AppMeta]) -> pa.Table:
    """``table`` with dns_qname / tls_sni / http_host filled from ``metas``.

    A name goes to the flow with the same flow_id whose [start, end] holds its packet time;
    the first name seen wins, and a name a flow already has is kept.
    """
    by_flow: defaultdict[str, list[AppMeta]] = defaultdict(list)
    for meta in sorted(metas, key=lambda m: m.ts_us):
        by_flow[meta.flow_id].append(meta)
    flow_ids = table.column("flow_id").to_pylist()
    starts = table.column("start").cast(pa.int64()).to_pylist()
    ends = table.column("end").cast(pa.int64()).to_pylist()
    columns = {name: table.column(name).to_pylist() for name in APP_FIELDS}
    for row, flow_id in enumerate(flow_ids):
        for meta in by_flow.get(flow_id, ()):
            if not starts[row] <= meta.ts_us <= ends[row]:
                continue
            for name, values in columns.items():
                if values[row] is None:
                    values[row] = getattr(meta, name)
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), pa.array(values, pa.string()))
    return table
