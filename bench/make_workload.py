"""Write the reference capture the collector benchmark reads (deterministic, about 20 packets a flow).

Speed matters here as much as content: a million packets built one by one with scapy would take
minutes, so the generator builds a few dozen header *templates* once (with ``struct``), decides
every packet's fields as numpy arrays, and stamps those fields into the templates in bulk, one
chunk of pcap records at a time.

Content (shares are of flows): TCP sessions (handshake, data both ways, FIN/ACK both ways), DNS-like
UDP request/response, longer UDP streams and ICMP echo pairs; about 20% IPv6; 5-10% each inside
802.1Q, MPLS (1 or 2 labels), GTP-U, VXLAN and GRE. Checksums are left at zero (nothing that reads
this file verifies them); payload bytes are zeros.

    python bench/make_workload.py [OUT] [--packets N] [--seed S]
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "workload.pcap"
PACKETS_PER_FLOW = 20
EPOCH_S = 1_700_000_000
START_SPAN_US = 180_000_000  # flows start within 3 minutes; the longest last about a minute more
CHUNK = 1 << 17  # packets written per bulk step: bounds memory to a few tens of MB
MAX_FRAME = 1514
MIN_FRAME = 60

TCP_SESSION, DNS, UDP_STREAM, ICMP_ECHO = range(4)
KIND_NAMES = ("tcp", "dns", "udp-stream", "icmp-echo")
KIND_SHARE = (0.50, 0.25, 0.10, 0.15)

PLAIN, VLAN, MPLS1, MPLS2, GTPU, VXLAN, GRE = range(7)
ENCAP_NAMES = ("plain", "vlan", "mpls-1", "mpls-2", "gtpu", "vxlan", "gre")
ENCAP_SHARE = (0.62, 0.08, 0.04, 0.04, 0.075, 0.075, 0.07)
V6_ENCAPS = (PLAIN, VLAN, MPLS1, MPLS2, GTPU)  # VXLAN and GRE carry IPv4 here
V6_SHARE = 0.235  # of the flows that may be IPv6: about 20% of all flows

L4_TCP, L4_UDP, L4_ICMP = range(3)
KIND_L4 = (L4_TCP, L4_UDP, L4_UDP, L4_ICMP)

# TCP flags
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# UDP ports the collectors read as tunnels: a random client port must not land on one of them.
TUNNEL_PORTS = (2152, 3544, 4789, 6081)

V6_PREFIX = bytes.fromhex("20010db8000000010000000000000000")[:12]  # 2001:db8:0:1::/96, low 32 bits stamped
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")

IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """One header stack, Ethernet to transport, with the offsets of the fields stamped per packet."""

    header: bytes
    v6: bool
    l4: int
    ip: int  # inner IP header
    tp: int  # transport header
    vlan: int = -1  # 802.1Q TCI
    mpls: int = -1  # first label stack entry
    mpls_n: int = 0
    oip: int = -1  # outer IPv4 header of a tunnel
    oudp: int = -1  # outer UDP header (GTP-U, VXLAN)
    gtp: int = -1
    vxlan: int = -1


def _eth(ethertype: int) -> bytes:
    return MAC_A + MAC_B + struct.pack("!H", ethertype)


def _ipv4(proto: int) -> bytes:
    """IPv4 header with DF set; length, id, addresses and checksum are stamped (or left zero)."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, proto, 0, bytes(4), bytes(4))


def _ipv6(next_header: int) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, 0, next_header, 64, V6_PREFIX + bytes(4), V6_PREFIX + bytes(4))


def _transport(l4: int, v6: bool) -> bytes:
    if l4 == L4_TCP:
        return struct.pack("!HHIIBBHHH", 0, 0, 0, 0, 0x50, 0, 65535, 0, 0)
    if l4 == L4_UDP:
        return struct.pack("!HHHH", 0, 0, 0, 0)
    return struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, 0, 0)


def _ip_and_transport(l4: int, v6: bool) -> bytes:
    proto = (6, 17, 58 if v6 else 1)[l4]
    return (_ipv6(proto) if v6 else _ipv4(proto)) + _transport(l4, v6)


def _link_part(encap: int, v6: bool) -> tuple[bytes, dict[str, int]]:
    """The bytes in front of the (inner) IP header, and where the stamped fields sit in them."""
    inner_type = 0x86DD if v6 else 0x0800
    if encap == PLAIN:
        return _eth(inner_type), {}
    if encap == VLAN:
        return _eth(0x8100) + struct.pack("!HH", 0, inner_type), {"vlan": 14}
    if encap in (MPLS1, MPLS2):
        labels = 1 if encap == MPLS1 else 2
        return _eth(0x8847) + bytes(4 * labels), {"mpls": 14, "mpls_n": labels}
    if encap == GTPU:
        gtp = struct.pack("!BBHI", 0x30, 0xFF, 0, 0)
        udp = struct.pack("!HHHH", 2152, 2152, 0, 0)
        return _eth(0x0800) + _ipv4(17) + udp + gtp, {"oip": 14, "oudp": 34, "gtp": 42}
    if encap == VXLAN:
        vxlan = struct.pack("!B3sI", 0x08, bytes(3), 0)
        udp = struct.pack("!HHHH", 0, 4789, 0, 0)
        inner_eth = bytes.fromhex("0200000000aa0200000000bb") + struct.pack("!H", 0x0800)
        return _eth(0x0800) + _ipv4(17) + udp + vxlan + inner_eth, {"oip": 14, "oudp": 34, "vxlan": 42}
    gre = struct.pack("!HH", 0, 0x0800)
    return _eth(0x0800) + _ipv4(47) + gre, {"oip": 14}


def build_templates() -> list[Template]:
    """Every (encapsulation, IP version, transport) combination the workload uses: 34 of them."""
    templates = []
    for encap in range(len(ENCAP_NAMES)):
        for v6 in (False, True) if encap in V6_ENCAPS else (False,):
            for l4 in (L4_TCP, L4_UDP, L4_ICMP):
                link, offsets = _link_part(encap, v6)
                header = link + _ip_and_transport(l4, v6)
                ip = len(link)
                tp = ip + (40 if v6 else 20)
                templates.append(Template(header=header, v6=v6, l4=l4, ip=ip, tp=tp, **offsets))
    return templates


def template_index(templates: list[Template]) -> npt.NDArray[np.int32]:
    """Lookup table (encap, v6, l4) -> template number; -1 where no template exists."""
    table = np.full((len(ENCAP_NAMES), 2, 3), -1, dtype=np.int32)
    for number, tmpl in enumerate(templates):
        encap = _encap_of(tmpl)
        table[encap, int(tmpl.v6), tmpl.l4] = number
    return table


def _encap_of(tmpl: Template) -> int:
    if tmpl.gtp >= 0:
        return GTPU
    if tmpl.vxlan >= 0:
        return VXLAN
    if tmpl.oip >= 0:
        return GRE
    if tmpl.vlan >= 0:
        return VLAN
    if tmpl.mpls >= 0:
        return MPLS1 if tmpl.mpls_n == 1 else MPLS2
    return PLAIN


# --------------------------------------------------------------------------- flows


@dataclass
class Flows:
    """Per-flow attributes (arrays of length F)."""

    kind: IntArray
    encap: IntArray
    v6: IntArray
    template: IntArray
    size: IntArray  # packets
    start_us: IntArray
    rtt_us: IntArray
    client: IntArray  # IPv4 address, or the low 32 bits of an IPv6 one
    server: IntArray
    cport: IntArray
    sport: IntArray
    vlan: IntArray
    label0: IntArray
    label1: IntArray
    outer_a: IntArray  # tunnel endpoint on the client side (eNB, VTEP, GRE router)
    outer_b: IntArray
    vx_port_a: IntArray  # VXLAN source port each VTEP picks for the flow
    vx_port_b: IntArray
    teid_up: IntArray
    teid_down: IntArray
    vni: IntArray
    icmp_id: IntArray
    isn_c: IntArray
    isn_s: IntArray
    size_hint: IntArray  # UDP stream / ICMP payload size


def _choose_kind_and_encap(rng: np.random.Generator, count: int) -> tuple[IntArray, IntArray, IntArray]:
    kind = rng.choice(len(KIND_NAMES), size=count, p=KIND_SHARE)
    encap = rng.choice(len(ENCAP_NAMES), size=count, p=ENCAP_SHARE)
    encap = np.where((kind == ICMP_ECHO) & (encap == GTPU), PLAIN, encap)  # GTP-U carries TCP/UDP here
    v6 = (np.isin(encap, V6_ENCAPS) & (rng.random(count) < V6_SHARE)).astype(np.int64)
    return kind, encap, v6


def _flow_sizes(rng: np.random.Generator, kind: IntArray, total: int) -> IntArray:
    """Packets per flow, summing to exactly ``total``: fixed parts plus TCP data / UDP stream lengths fitted."""
    count = kind.shape[0]
    pairs = rng.integers(1, 8, size=count)
    fixed = np.select([kind == TCP_SESSION, kind == DNS, kind == UDP_STREAM], [7, 2, 3], default=2 * pairs)
    variable = (kind == TCP_SESSION) | (kind == UDP_STREAM)
    raw = np.where(kind == TCP_SESSION, rng.lognormal(2.3, 1.0, count), rng.lognormal(3.3, 1.1, count))
    raw = np.where(variable, np.minimum(raw, 4000.0), 0.0)
    room = total - int(fixed.sum())
    if room < 0 or not variable.any():
        raise SystemExit(f"--packets {total} is too small for {count} flows")
    extra = np.floor(raw * (room / raw.sum())).astype(np.int64)
    short = room - int(extra.sum())
    extra[rng.choice(np.flatnonzero(variable), size=short, replace=False)] += 1
    return fixed + extra


def _client_ports(rng: np.random.Generator, count: int) -> IntArray:
    ports = rng.integers(1024, 65536, size=count)
    return np.where(np.isin(ports, TUNNEL_PORTS), ports + 1, ports)


def _server_ports(rng: np.random.Generator, kind: IntArray) -> IntArray:
    count = kind.shape[0]
    tcp = rng.choice([443, 80, 22, 8080, 25], size=count, p=[0.6, 0.25, 0.05, 0.05, 0.05])
    stream = rng.choice([443, 5004, 1194, 3478], size=count)
    return np.select([kind == TCP_SESSION, kind == DNS, kind == UDP_STREAM], [tcp, np.full(count, 53), stream], 0)


def _endpoints(rng: np.random.Generator, kind: IntArray) -> tuple[IntArray, IntArray]:
    """Clients anywhere in 10/8; servers from a pool in 198.18/15, DNS from a handful of resolvers."""
    count = kind.shape[0]
    client = 0x0A000000 | rng.integers(1, 1 << 24, size=count)
    server = 0xC6120000 | rng.integers(1, 20_000, size=count)
    resolver = 0xC6120035 + (rng.integers(0, 4, size=count) << 8)
    return client, np.where(kind == DNS, resolver, server)


def _tunnel_fields(rng: np.random.Generator, encap: IntArray) -> dict[str, IntArray]:
    """Outer endpoints, VLAN ids, MPLS labels, TEIDs, VNIs: small pools, as on a real tap."""
    count = encap.shape[0]
    pair = rng.integers(0, 64, size=count)
    side_a = np.select([encap == GTPU, encap == VXLAN], [0xAC100000, 0xC0A80000], 0x64400000) + 1 + pair
    side_b = np.select([encap == GTPU, encap == VXLAN], [0xAC110001, 0xC0A80101], 0x64410001) + (pair & 3)
    return {
        "vlan": rng.integers(10, 40, size=count) * 10,
        "label0": rng.integers(16, 1 << 20, size=count),
        "label1": rng.integers(16, 1 << 20, size=count),
        "outer_a": side_a,
        "outer_b": side_b,
        "vx_port_a": rng.integers(49152, 65536, size=count),
        "vx_port_b": rng.integers(49152, 65536, size=count),
        "teid_up": rng.integers(1, 1 << 32, size=count),
        "teid_down": rng.integers(1, 1 << 32, size=count),
        "vni": 5000 + rng.integers(0, 32, size=count),
    }


def build_flows(rng: np.random.Generator, packets: int, lookup: npt.NDArray[np.int32]) -> Flows:
    """Decide every flow: what it is, where it runs, how many packets, when it starts."""
    count = max(1, packets // PACKETS_PER_FLOW)
    kind, encap, v6 = _choose_kind_and_encap(rng, count)
    size = _flow_sizes(rng, kind, packets)
    client, server = _endpoints(rng, kind)
    l4 = np.asarray(KIND_L4)[kind]
    return Flows(
        kind=kind,
        encap=encap,
        v6=v6,
        template=lookup[encap, v6, l4].astype(np.int64),
        size=size,
        start_us=rng.integers(0, START_SPAN_US, size=count),
        rtt_us=np.clip(rng.lognormal(10.0, 0.9, count), 300, 400_000).astype(np.int64),
        client=client,
        server=server,
        cport=_client_ports(rng, count),
        sport=_server_ports(rng, kind),
        icmp_id=rng.integers(1, 1 << 16, size=count),
        isn_c=rng.integers(0, 1 << 32, size=count),
        isn_s=rng.integers(0, 1 << 32, size=count),
        size_hint=rng.integers(32, 1200, size=count),
        **_tunnel_fields(rng, encap),
    )


# --------------------------------------------------------------------------- packets


@dataclass
class Packets:
    """Per-packet fields in flow order (arrays of length P); ``order`` sorts them by time."""

    flow: IntArray
    to_client: IntArray  # 0: client -> server, 1: server -> client
    flags: IntArray
    payload: IntArray
    icmp_seq: IntArray
    ts_us: IntArray
    seq: IntArray
    ack: IntArray
    order: IntArray


def _positions(flows: Flows) -> tuple[IntArray, IntArray, IntArray]:
    """Flow number, position in the flow and position counted from the flow's end, per packet."""
    flow = np.repeat(np.arange(flows.size.shape[0]), flows.size)
    first = np.cumsum(flows.size) - flows.size
    pos = np.arange(flow.shape[0]) - first[flow]
    return flow, pos, flows.size[flow] - 1 - pos


def _tcp_roles(rng: np.random.Generator, pos: IntArray, back: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Direction, flags and whether a payload rides along, for a TCP session's packets."""
    n = pos.shape[0]
    data_dir = (rng.random(n) < 0.6).astype(np.int64)
    pure_ack = rng.random(n) < 0.25
    conds = [pos == 0, pos == 1, pos == 2, back == 3, back == 2, back == 1, back == 0]
    direction = np.select(conds, [0, 1, 0, 0, 1, 1, 0], default=data_dir)
    flags = np.select(conds, [SYN, SYN | ACK, ACK, FIN | ACK, ACK, FIN | ACK, ACK], np.where(pure_ack, ACK, PSH | ACK))
    has_data = (np.select(conds, [0] * 7, default=1) == 1) & ~pure_ack
    return direction, flags, has_data.astype(np.int64)


def _payloads(rng: np.random.Generator, flows: Flows, flow: IntArray, direction: IntArray, has_data: IntArray,
              room: IntArray) -> IntArray:
    """Payload bytes: full segments server->client, short requests, DNS-sized answers, steady streams."""
    n = flow.shape[0]
    kind = flows.kind[flow]
    full = np.where(rng.random(n) < 0.7, room, rng.integers(100, 1400, size=n))
    tcp = np.where(direction == 1, full, rng.integers(40, 700, size=n)) * has_data
    dns = np.where(direction == 1, rng.integers(60, 400, size=n), rng.integers(28, 60, size=n))
    stream = flows.size_hint[flow] + rng.integers(-24, 25, size=n)
    icmp = flows.size_hint[flow] // 2 + 8
    payload = np.select([kind == TCP_SESSION, kind == DNS, kind == UDP_STREAM], [tcp, dns, stream], icmp)
    return np.clip(payload, 0, room)


def _gaps(rng: np.random.Generator, flows: Flows, flow: IntArray, pos: IntArray) -> IntArray:
    """Microseconds since the flow's previous packet: RTT-driven for TCP/DNS/ping, 20 ms for streams."""
    n = flow.shape[0]
    kind = flows.kind[flow]
    rtt = flows.rtt_us[flow]
    tcp = rng.exponential(1.0, n) * rtt / 2
    stream = 20_000 + rng.integers(-2_000, 2_000, size=n)
    icmp = np.where(pos % 2 == 1, rtt, 1_000_000 - rtt)
    gap = np.select([kind == TCP_SESSION, kind == DNS, kind == UDP_STREAM], [tcp, rtt, stream], icmp)
    return np.where(pos == 0, 0, np.maximum(gap.astype(np.int64), 1))


def _segment_exclusive_cumsum(values: IntArray, first: IntArray, flow: IntArray) -> IntArray:
    """Running sum of ``values`` within each flow, not counting the packet itself."""
    excl = np.cumsum(values) - values
    return excl - excl[first][flow]


def _tcp_numbers(flows: Flows, pk_flow: IntArray, direction: IntArray, flags: IntArray,
                 payload: IntArray) -> tuple[IntArray, IntArray]:
    """Sequence and acknowledgement numbers consistent with what each side sent so far."""
    first = np.cumsum(flows.size) - flows.size
    used = payload + ((flags & (SYN | FIN)) != 0)
    sent = [_segment_exclusive_cumsum(np.where(direction == d, used, 0), first, pk_flow) for d in (0, 1)]
    isn = [flows.isn_c[pk_flow], flows.isn_s[pk_flow]]
    seq = np.where(direction == 0, isn[0] + sent[0], isn[1] + sent[1])
    ack = np.where(direction == 0, isn[1] + sent[1], isn[0] + sent[0])
    ack = np.where((flags & ACK) != 0, ack, 0)
    return seq & 0xFFFFFFFF, ack & 0xFFFFFFFF


def build_packets(rng: np.random.Generator, flows: Flows, header_len: IntArray) -> Packets:
    """Every packet's direction, flags, payload and time; then the time order that interleaves the flows."""
    flow, pos, back = _positions(flows)
    kind = flows.kind[flow]
    direction, flags, has_data = _tcp_roles(rng, pos, back)
    stream_dir = ((rng.random(pos.shape[0]) < 0.15) & (pos > 0)).astype(np.int64)  # streams open client -> server
    other_dir = np.where(kind == UDP_STREAM, stream_dir, pos % 2)
    direction = np.where(kind == TCP_SESSION, direction, other_dir)
    flags = np.where(kind == TCP_SESSION, flags, 0)
    room = MAX_FRAME - header_len[flows.template[flow]]
    payload = _payloads(rng, flows, flow, direction, has_data, room)
    gaps = _gaps(rng, flows, flow, pos)  # zero at each flow's first packet, so the running sum starts there
    ts = flows.start_us[flow] + _segment_exclusive_cumsum(gaps, np.cumsum(flows.size) - flows.size, flow) + gaps
    seq, ack = _tcp_numbers(flows, flow, direction, flags, np.where(kind == TCP_SESSION, payload, 0))
    return Packets(flow=flow, to_client=direction, flags=flags, payload=payload, icmp_seq=pos // 2 + 1,
                   ts_us=ts, seq=seq, ack=ack, order=np.argsort(ts, kind="stable"))


# --------------------------------------------------------------------------- writing


def _put(buf: npt.NDArray[np.uint8], pos: IntArray, value: IntArray, width: int) -> None:
    """Store ``value`` big-endian (network order), ``width`` bytes at each ``pos``."""
    value = value.astype(np.uint64)
    for k in range(width):
        buf[pos + k] = ((value >> np.uint64(8 * (width - 1 - k))) & np.uint64(0xFF)).astype(np.uint8)


@dataclass
class Stamp:
    """The fields of one chunk of packets (time order), ready to be written into their templates."""

    frame: IntArray  # where each frame starts in the chunk buffer
    src: IntArray
    dst: IntArray
    sport: IntArray
    dport: IntArray
    ip_len: IntArray  # inner IP total length
    up: IntArray  # 1 when client -> server
    pk: IntArray  # packet numbers (flow order)
    fl: IntArray  # flow numbers


def _stamp_inner(buf: npt.NDArray[np.uint8], t: Template, s: Stamp, rows: IntArray, pk: Packets,
                 ip_id: IntArray) -> None:
    """The inner IP header and transport: what every collector keys its flows on."""
    ip, tp = s.frame[rows] + t.ip, s.frame[rows] + t.tp
    if t.v6:
        _put(buf, ip + 4, s.ip_len[rows] - 40, 2)
        _put(buf, ip + 20, s.src[rows], 4)
        _put(buf, ip + 36, s.dst[rows], 4)
    else:
        _put(buf, ip + 2, s.ip_len[rows], 2)
        _put(buf, ip + 4, ip_id[rows], 2)
        _put(buf, ip + 12, s.src[rows], 4)
        _put(buf, ip + 16, s.dst[rows], 4)
    p = s.pk[rows]
    if t.l4 == L4_ICMP:
        buf[tp] = np.where(s.up[rows] == 1, 128 if t.v6 else 8, 129 if t.v6 else 0).astype(np.uint8)
        _put(buf, tp + 4, s.sport[rows], 2)
        _put(buf, tp + 6, pk.icmp_seq[p], 2)
        return
    _put(buf, tp, s.sport[rows], 2)
    _put(buf, tp + 2, s.dport[rows], 2)
    if t.l4 == L4_UDP:
        _put(buf, tp + 4, s.ip_len[rows] - (t.tp - t.ip), 2)
        return
    _put(buf, tp + 4, pk.seq[p], 4)
    _put(buf, tp + 8, pk.ack[p], 4)
    buf[tp + 13] = pk.flags[p].astype(np.uint8)


def _stamp_outer(buf: npt.NDArray[np.uint8], t: Template, s: Stamp, rows: IntArray, fw: Flows,
                 ip_id: IntArray) -> None:
    """VLAN tag, MPLS labels, and the outer IPv4 / UDP / GTP-U / VXLAN headers of tunnels."""
    pos, f, up = s.frame[rows], s.fl[rows], s.up[rows] == 1
    if t.vlan >= 0:
        _put(buf, pos + t.vlan, fw.vlan[f], 2)
    if t.mpls >= 0:
        last = 0x100 if t.mpls_n == 1 else 0
        _put(buf, pos + t.mpls, (fw.label0[f] << 12) | last | 64, 4)
        if t.mpls_n == 2:
            _put(buf, pos + t.mpls + 4, (fw.label1[f] << 12) | 0x100 | 64, 4)
    if t.oip < 0:
        return
    outer_len = s.ip_len[rows] + (t.ip - t.oip)
    _put(buf, pos + t.oip + 2, outer_len, 2)
    _put(buf, pos + t.oip + 4, ip_id[rows] ^ 0x5555, 2)
    _put(buf, pos + t.oip + 12, np.where(up, fw.outer_a[f], fw.outer_b[f]), 4)
    _put(buf, pos + t.oip + 16, np.where(up, fw.outer_b[f], fw.outer_a[f]), 4)
    if t.oudp >= 0:
        _put(buf, pos + t.oudp + 4, outer_len - 20, 2)
    if t.gtp >= 0:
        _put(buf, pos + t.gtp + 2, s.ip_len[rows], 2)
        _put(buf, pos + t.gtp + 4, np.where(up, fw.teid_up[f], fw.teid_down[f]), 4)
    if t.vxlan >= 0:
        _put(buf, pos + t.oudp, np.where(up, fw.vx_port_a[f], fw.vx_port_b[f]), 2)
        _put(buf, pos + t.vxlan + 4, fw.vni[f], 3)


def _chunk_stamp(fw: Flows, pk: Packets, sel: IntArray, frame: IntArray, layout: Layout) -> Stamp:
    """Resolve direction once per chunk: which end is the source decides addresses and ports."""
    f = pk.flow[sel]
    up = 1 - pk.to_client[sel]
    is_icmp = fw.kind[f] == ICMP_ECHO
    tmpl = fw.template[f]
    return Stamp(
        frame=frame,
        src=np.where(up == 1, fw.client[f], fw.server[f]),
        dst=np.where(up == 1, fw.server[f], fw.client[f]),
        sport=np.where(is_icmp, fw.icmp_id[f], np.where(up == 1, fw.cport[f], fw.sport[f])),
        dport=np.where(up == 1, fw.sport[f], fw.cport[f]),
        ip_len=layout.header_len[tmpl] - layout.ip_offset[tmpl] + pk.payload[sel],
        up=up,
        pk=sel,
        fl=f,
    )


@dataclass(frozen=True)
class Layout:
    """The templates and, as arrays indexed by template number, their header and IP-header offsets."""

    templates: list[Template]
    header_len: IntArray
    ip_offset: IntArray

    @classmethod
    def build(cls) -> Layout:
        templates = build_templates()
        return cls(
            templates=templates,
            header_len=np.asarray([len(t.header) for t in templates], dtype=np.int64),
            ip_offset=np.asarray([t.ip for t in templates], dtype=np.int64),
        )


def write_chunk(out: BinaryIO, layout: Layout, fw: Flows, pk: Packets, sel: IntArray) -> None:
    """Lay out one chunk of pcap records in a zeroed buffer, stamp them, and write it in one call."""
    tmpl = fw.template[pk.flow[sel]]
    frame_len = np.maximum(layout.header_len[tmpl] + pk.payload[sel], MIN_FRAME)
    record = np.cumsum(frame_len + 16) - (frame_len + 16)
    buf = np.zeros(int(record[-1] + 16 + frame_len[-1]), dtype=np.uint8)
    ts = EPOCH_S * 1_000_000 + pk.ts_us[sel]
    rec_hdr = np.stack([ts // 1_000_000, ts % 1_000_000, frame_len, frame_len], axis=1).astype("<u4")
    buf[record[:, None] + np.arange(16)] = rec_hdr.view(np.uint8).reshape(-1, 16)
    stamp = _chunk_stamp(fw, pk, sel, record + 16, layout)
    ip_id = sel & 0xFFFF
    for number in np.unique(tmpl):
        t = layout.templates[int(number)]
        rows = np.flatnonzero(tmpl == number)
        head = np.frombuffer(t.header, dtype=np.uint8)
        buf[stamp.frame[rows][:, None] + np.arange(head.shape[0])] = head
        _stamp_inner(buf, t, stamp, rows, pk, ip_id)
        _stamp_outer(buf, t, stamp, rows, fw, ip_id)
    out.write(memoryview(buf))


def pcap_header() -> bytes:
    """Classic pcap, microsecond timestamps, little-endian, linktype 1 (Ethernet)."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


# --------------------------------------------------------------------------- main


def generate(out: Path, packets: int, seed: int) -> tuple[Flows, Packets]:
    """Build the flows and packets and write them to ``out``; returns them for the summary."""
    rng = np.random.default_rng(seed)
    layout = Layout.build()
    flows = build_flows(rng, packets, template_index(layout.templates))
    pk = build_packets(rng, flows, layout.header_len)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        fh.write(pcap_header())
        for begin in range(0, packets, CHUNK):
            write_chunk(fh, layout, flows, pk, pk.order[begin : begin + CHUNK])
    return flows, pk


def summary(flows: Flows, pk: Packets, out: Path, seconds: float) -> str:
    """What was written, with the shares a reader checks the workload against."""
    n = pk.flow.shape[0]
    lines = [
        f"wrote {out}: {n:,} packets, {flows.size.shape[0]:,} flows built, {out.stat().st_size / 1e6:,.1f} MB "
        f"in {seconds:.1f} s",
        f"  span {(pk.ts_us.max() - pk.ts_us.min()) / 1e6:.0f} s, IPv6 {flows.v6.mean():.0%} of flows, "
        f"{flows.v6[pk.flow].mean():.0%} of packets; mean frame "
        f"{(out.stat().st_size - 24) / max(n, 1) - 16:.0f} bytes",
    ]
    for label, names, values in (("kind", KIND_NAMES, flows.kind), ("encap", ENCAP_NAMES, flows.encap)):
        shares = ", ".join(f"{name} {np.mean(values == i):.1%}" for i, name in enumerate(names))
        lines.append(f"  flows by {label}: {shares}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, help=f"output pcap (default {DEFAULT_OUT})")
    parser.add_argument("--out", type=Path, help="output pcap (same as the positional argument)")
    parser.add_argument("--packets", type=int, default=1_000_000, help="packets to write (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed (fixed: the file is reproducible)")
    args = parser.parse_args(argv)
    if args.packets < 1000:
        parser.error("--packets must be at least 1000")
    out = args.out or args.path or DEFAULT_OUT
    began = time.perf_counter()
    flows, pk = generate(out, args.packets, args.seed)
    print(summary(flows, pk, out, time.perf_counter() - began))
    return 0


if __name__ == "__main__":
    sys.exit(main())
