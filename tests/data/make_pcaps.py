"""Build the golden capture corpus: tests/data/pcaps/NAME and tests/data/expected/NAME.jsonl.

Run as ``.venv/bin/python tests/data/make_pcaps.py [OUTPUT_DIR]`` (default: this folder).
Every packet is built here with scapy (IP and transport layers) and plain ``struct`` (link,
shim and tunnel headers, file formats), with fixed timestamps, IP ids and sequence numbers,
so the output is byte-for-byte reproducible.

The expectations are written from what this script constructed, never by running an engine:
each packet is added together with its *observations* (the IP headers it carries, which flow
each one belongs to, and its tunnel / VLAN / MPLS context), and the flows are tallied from
those with the rules of docs/collectors.md ("Flows"). Flow membership, originators and end
reasons are stated by each scenario, not derived.
"""

from __future__ import annotations

import ipaddress
import json
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.packet import Packet, Raw

BASE_S = 1_709_251_200  # 2024-03-01T00:00:00Z
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAC_A = bytes.fromhex("020000000a01")
MAC_B = bytes.fromhex("020000000b02")
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
TPID_8021Q, TPID_8021AD, TPID_9100 = 0x8100, 0x88A8, 0x9100
LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2 = 1, 0, 101, 113, 276
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCP_P, UDP_P, ICMP_P, ICMP6_P = 6, 17, 1, 58

# ---------------------------------------------------------------------------------------------
# IP packets as constructed


@dataclass(frozen=True)
class IPPacket:
    """One IP packet's bytes and what it carries, known from its construction."""

    data: bytes
    version: int
    proto: int
    src: str
    dst: str
    sport: int = 0
    dport: int = 0
    flags: int = 0
    payload: int = 0


class _Ids:
    """IP identification values: a fixed sequence restarted for every capture."""

    next = 0x1000

    @classmethod
    def take(cls) -> int:
        cls.next += 1
        return cls.next


def _v6(addr: str) -> bool:
    return ipaddress.ip_address(addr).version == 6


def _norm(addr: str) -> str:
    return ipaddress.ip_address(addr).compressed


def _ip_header(src: str, dst: str, ext: Sequence[Packet] = (), **v4: int) -> Packet:
    if _v6(src):
        head: Packet = IPv6(src=src, dst=dst, hlim=64)
        for layer in ext:
            head = head / layer
        return head
    return IP(src=src, dst=dst, id=_Ids.take(), ttl=64, **v4)


def _packet(head: Packet, proto: int, src: str, dst: str, **info: int) -> IPPacket:
    data = bytes(head)
    return IPPacket(data, 6 if _v6(src) else 4, proto, _norm(src), _norm(dst), **info)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: str,
    data: bytes = b"",
    *,
    seq: int = 1000,
    ack: int = 0,
    ext: Sequence[Packet] = (),
) -> IPPacket:
    layer = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
    head = _ip_header(src, dst, ext) / layer
    if data:
        head = head / Raw(data)
    bits = int(layer.flags)
    return _packet(head, TCP_P, src, dst, sport=sport, dport=dport, flags=bits, payload=len(data))


def udp(src: str, dst: str, sport: int, dport: int, data: bytes = b"", *, ext: Sequence[Packet] = ()) -> IPPacket:
    head = _ip_header(src, dst, ext) / UDP(sport=sport, dport=dport)
    if data:
        head = head / Raw(data)
    return _packet(head, UDP_P, src, dst, sport=sport, dport=dport, payload=len(data))


ICMP4_PAIRS = {8: 0, 0: 8}
ICMP6_PAIRS = {128: 129, 129: 128}


def icmp_echo(
    src: str, dst: str, reply: bool, seq: int, *, ident: int = 0x4D47, ext: Sequence[Packet] = ()
) -> IPPacket:
    payload = bytes(range(32))
    if _v6(src):
        kind = ICMPv6EchoReply if reply else ICMPv6EchoRequest
        head = _ip_header(src, dst, ext) / kind(id=ident, seq=seq, data=payload)
        itype = 129 if reply else 128
        return _packet(head, ICMP6_P, src, dst, sport=itype, dport=ICMP6_PAIRS[itype])
    itype = 0 if reply else 8
    head = _ip_header(src, dst) / ICMP(type=itype, id=ident, seq=seq) / Raw(payload)
    return _packet(head, ICMP_P, src, dst, sport=itype, dport=ICMP4_PAIRS[itype])


def icmp_unreachable(src: str, dst: str, code: int, quoted: bytes) -> IPPacket:
    """An ICMPv4 destination unreachable quoting an IP header and 8 bytes: a one-way type."""
    head = _ip_header(src, dst) / ICMP(type=3, code=code) / Raw(quoted)
    return _packet(head, ICMP_P, src, dst, sport=3, dport=code)


def carrier(src: str, dst: str, proto: int, inner: bytes) -> IPPacket:
    """An IP packet carrying ``inner`` under IP protocol ``proto`` (GRE, IP in IP): ports 0."""
    if _v6(src):
        head: Packet = IPv6(src=src, dst=dst, nh=proto, hlim=64) / Raw(inner)
    else:
        head = IP(src=src, dst=dst, id=_Ids.take(), ttl=64, proto=proto) / Raw(inner)
    return _packet(head, proto, src, dst)


def udp_datagram(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    """The UDP header and payload with the checksum of a plain src -> dst packet."""
    cut = 40 if _v6(src) else 20
    if _v6(src):
        return bytes(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))[cut:]
    return bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))[cut:]


def udp_fragments(src: str, dst: str, sport: int, dport: int, data: bytes, ident: int, size: int) -> list[IPPacket]:
    """A UDP datagram cut into fragments of ``size`` bytes of IP payload (a multiple of 8)."""
    whole = udp_datagram(src, dst, sport, dport, data)
    out = []
    for offset in range(0, len(whole), size):
        chunk = whole[offset : offset + size]
        more = offset + size < len(whole)
        if _v6(src):
            frag = IPv6ExtHdrFragment(nh=UDP_P, offset=offset // 8, m=int(more), id=ident)
            head: Packet = IPv6(src=src, dst=dst, nh=44, hlim=64) / frag / Raw(chunk)
        else:
            head = IP(src=src, dst=dst, id=ident, ttl=64, proto=UDP_P, flags="MF" if more else 0, frag=offset // 8)
            head = head / Raw(chunk)
        first = offset == 0
        out.append(_packet(head, UDP_P, src, dst, sport=sport, dport=dport, payload=len(data) if first else 0))
    return out


def ah_udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> IPPacket:
    """IPv6 / AH (HMAC-96, 24 bytes) / UDP."""
    icv = bytes(range(12))
    ah = struct.pack("!BBHII", UDP_P, 4, 0, 0x100, 1) + icv
    head = IPv6(src=src, dst=dst, nh=51, hlim=64) / Raw(ah + udp_datagram(src, dst, sport, dport, data))
    return _packet(head, UDP_P, src, dst, sport=sport, dport=dport, payload=len(data))


# ---------------------------------------------------------------------------------------------
# link, shim and tunnel headers


def ether(payload: bytes, ethertype: int, tags: Sequence[tuple[int, int]] = ()) -> bytes:
    """An Ethernet frame; ``tags`` are (TPID, VLAN id) pairs, outermost first."""
    head = MAC_B + MAC_A
    for tpid, vid in tags:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def eth_ip(packet: IPPacket, tags: Sequence[tuple[int, int]] = ()) -> bytes:
    return ether(packet.data, ETH_IPV6 if packet.version == 6 else ETH_IPV4, tags)


def mpls(labels: Sequence[int], payload: bytes) -> bytes:
    out = b""
    for i, label in enumerate(labels):
        bottom = int(i == len(labels) - 1)
        out += struct.pack("!I", (label << 12) | (bottom << 8) | 64)
    return out + payload


def pppoe_session(session: int, ppp_proto: int, payload: bytes) -> bytes:
    ppp = struct.pack("!H", ppp_proto) + payload
    return struct.pack("!BBHH", 0x11, 0x00, session, len(ppp)) + ppp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def gre(proto: int, payload: bytes, *, key: int | None = None, seq: int | None = None, csum: bool = False) -> bytes:
    """A GRE version 0 header with the C, K and S fields as asked."""
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    tail = b""
    if key is not None:
        tail += struct.pack("!I", key)
    if seq is not None:
        tail += struct.pack("!I", seq)
    if not csum:
        return struct.pack("!HH", flags, proto) + tail + payload
    blank = struct.pack("!HHHH", flags, proto, 0, 0) + tail + payload
    return struct.pack("!HHHH", flags, proto, _checksum(blank), 0) + tail + payload


def erspan2(frame: bytes, session: int, index: int) -> bytes:
    """ERSPAN type II header (version 1): 8 bytes."""
    return struct.pack("!HHI", (1 << 12) | 0, session & 0x3FF, index & 0xFFFFF) + frame


def erspan3(frame: bytes, session: int, timestamp: int, platform: bytes | None = None) -> bytes:
    """ERSPAN type III header (version 2): 12 bytes, + 8 with the O bit."""
    last = 0x0001 if platform is not None else 0  # P=0, FT=0, HW=0, D=0, Gra=0, O
    head = struct.pack("!HHIHH", (2 << 12) | 0, session & 0x3FF, timestamp, 0, last)
    return head + (platform or b"") + frame


def vxlan(vni: int, frame: bytes) -> bytes:
    return struct.pack("!BBHI", 0x08, 0, 0, vni << 8) + frame


def geneve(vni: int, frame: bytes, options: bytes) -> bytes:
    return struct.pack("!BBHI", len(options) // 4, 0, 0x6558, vni << 8) + options + frame


def gtpu(teid: int, inner: bytes, seq: int) -> bytes:
    """A GTPv1-U G-PDU with S and E set and one extension header (PDU session container)."""
    ext = struct.pack("!BBBB", 1, 0x10, 0x01, 0)  # length 1 (4 bytes), content, next type 0
    body = struct.pack("!HBB", seq, 0, 0x85) + ext + inner
    return struct.pack("!BBHI", 0x30 | 0x04 | 0x02, 0xFF, len(body), teid) + body


def gtp_echo(request: bool, seq: int) -> bytes:
    body = struct.pack("!HBB", seq, 0, 0)
    if not request:
        body += bytes([14, 0])  # Recovery IE
    return struct.pack("!BBHI", 0x32, 1 if request else 2, len(body), 0) + body


def teredo_origin(port: int, addr: str) -> bytes:
    """The Teredo origin indication: port and address obfuscated (each bit inverted)."""
    packed = ipaddress.ip_address(addr).packed
    return struct.pack("!HH", 0, port ^ 0xFFFF) + bytes(b ^ 0xFF for b in packed)


def sll(packet: IPPacket) -> bytes:
    proto = ETH_IPV6 if packet.version == 6 else ETH_IPV4
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_A + b"\0\0", proto) + packet.data


def sll2(packet: IPPacket) -> bytes:
    proto = ETH_IPV6 if packet.version == 6 else ETH_IPV4
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, MAC_A + b"\0\0") + packet.data


def null_loopback(packet: IPPacket) -> bytes:
    return struct.pack("<I", 2) + packet.data  # AF_INET, host (little-endian) byte order


def arp_frame() -> bytes:
    body = struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, bytes([192, 0, 2, 1]), b"\0" * 6, bytes([192, 0, 2, 2])
    )
    return ether(body, ETH_ARP)


# ---------------------------------------------------------------------------------------------
# captures and their expectations


@dataclass(frozen=True)
class Obs:
    """One observation: an IP header of a packet, the flow it counts toward, and its context."""

    ip: IPPacket
    flow: str
    tunnel: str | None = None
    vlan: int | None = None
    inner_vlan: int | None = None
    mpls: tuple[int, ...] = ()
    parent: int | None = None  # index of the carrying observation in the same packet
    fragment: bool = False  # a non-first fragment: packets and bytes only


@dataclass
class Record:
    ts_us: int
    frame: bytes
    obs: tuple[Obs, ...]
    interface: int = 0
    caplen: int | None = None


@dataclass
class _Tally:
    first: Obs
    orig: tuple[str, int]
    flipped: bool
    start: int
    end: int = 0
    pkts: list[int] = field(default_factory=lambda: [0, 0])
    ip_bytes: list[int] = field(default_factory=lambda: [0, 0])
    sent: list[set[str]] = field(default_factory=lambda: [set(), set()])
    letters: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


def _letters(ip: IPPacket) -> list[str]:
    if ip.proto == UDP_P:
        return ["D"] if ip.payload else []
    if ip.proto != TCP_P:
        return []
    f, out = ip.flags, []
    if f & SYN:
        out.append("H" if f & ACK else "S")
    if f & ACK and not f & (SYN | FIN | RST) and not ip.payload:
        out.append("A")
    if ip.payload:
        out.append("D")
    if f & FIN:
        out.append("F")
    if f & RST:
        out.append("R")
    return out


def _conn_state(proto: int, sent: list[set[str]], resp_pkts: int) -> str:
    orig, resp = sent
    if proto != TCP_P:
        return "SF" if resp_pkts else "S0"
    if "R" in resp:
        if "S" in orig and "H" not in resp:
            return "REJ"
        return "RSTRH" if "H" in resp and "S" not in orig else "RSTR"
    if "R" in orig:
        return "RSTOS0" if "S" in orig and "H" not in resp else "RSTO"
    if "S" in orig and "H" in resp:
        return {(True, True): "SF", (True, False): "S2", (False, True): "S3"}.get(("F" in orig, "F" in resp), "S1")
    if "S" in orig:
        if "F" in orig:
            return "SH"
        return "S0" if not resp_pkts else "OTH"
    if "H" in resp:
        return "SHR" if "F" in resp else "OTH"
    return "OTH"


def iso(ts_us: int) -> str:
    return (EPOCH + timedelta(microseconds=ts_us)).isoformat(timespec="microseconds")


class Capture:
    """Packets of one capture file, and the flows they make."""

    def __init__(self, name: str, hour: int, *, interfaces: Sequence[tuple[int, int]] = ((LINK_ETHERNET, 6),)) -> None:
        self.name = name
        self.base_us = (BASE_S + hour * 3600) * 1_000_000
        self.interfaces = list(interfaces)
        self.records: list[Record] = []
        self.reasons: dict[str, str | None] = {}
        self.pinned: dict[str, tuple[str, str]] = {}
        self.originators: dict[str, tuple[str, int]] = {}
        _Ids.next = 0x1000 + hour * 0x100

    def add(self, offset_us: int, frame: bytes, *obs: Obs, interface: int = 0, caplen: int | None = None) -> None:
        ts = self.base_us + offset_us
        assert not self.records or ts >= self.records[-1].ts_us, "packets go in time order"
        self.records.append(Record(ts, frame, obs, interface, caplen))

    def end(self, flow: str, reason: str | None) -> None:
        """A flow's end_reason (``eof`` unless said here; None: not checked)."""
        self.reasons[flow] = reason

    def keep_originator(self, flow: str, addr: str, port: int) -> None:
        """An ``active`` continuation: its originator is its predecessor's, whoever sends first."""
        self.originators[flow] = (_norm(addr), port)

    def pin(self, flow: str, conn_state: str, history: str) -> None:
        """What a scenario is about: checked against the tally before anything is written."""
        self.pinned[flow] = (conn_state, history)

    def flows(self) -> list[dict[str, object]]:
        tallies: dict[str, _Tally] = {}
        for rec in self.records:
            for obs in rec.obs:
                ip = obs.ip
                tally = tallies.get(obs.flow)
                if tally is None:
                    flipped = ip.proto == TCP_P and ip.flags & (SYN | ACK) == SYN | ACK
                    orig = (ip.dst, ip.dport) if flipped else (ip.src, ip.sport)
                    if obs.flow in self.originators:
                        flipped, orig = False, self.originators[obs.flow]
                    tally = tallies[obs.flow] = _Tally(obs, orig, flipped, rec.ts_us)
                first = tally.first
                assert (obs.tunnel, ip.version, ip.proto) == (first.tunnel, first.ip.version, first.ip.proto)
                side = 0 if (ip.src, ip.sport) == tally.orig else 1
                assert side == 0 or (ip.dst, ip.dport) == tally.orig, f"{obs.flow}: packet of another flow"
                tally.end = rec.ts_us
                tally.pkts[side] += 1
                tally.ip_bytes[side] += len(ip.data)
                if obs.parent is not None:
                    parent = rec.obs[obs.parent].flow
                    if parent not in tally.parents and len(tally.parents) < 2:
                        tally.parents.append(parent)
                if obs.fragment:
                    continue
                for letter in _letters(ip):
                    if letter not in tally.sent[side]:
                        tally.sent[side].add(letter)
                        tally.letters.append(letter if side == 0 else letter.lower())
                if ip.flags & FIN:
                    tally.sent[side].add("F")
                if ip.flags & RST:
                    tally.sent[side].add("R")
        out = []
        for name, t in tallies.items():
            first = t.first
            ends = [(first.ip.src, first.ip.sport), (first.ip.dst, first.ip.dport)]
            resp = ends[1] if ends[0] == t.orig else ends[0]
            history = ("^" if t.flipped else "") + "".join(t.letters)
            state = _conn_state(first.ip.proto, t.sent, t.pkts[1])
            if name in self.pinned:
                assert self.pinned[name] == (state, history), f"{self.name} {name}: {state} {history}"
            out.append(
                {
                    "ip_version": first.ip.version,
                    "proto": first.ip.proto,
                    "orig_addr": t.orig[0],
                    "orig_port": t.orig[1],
                    "resp_addr": resp[0],
                    "resp_port": resp[1],
                    "orig_pkts": t.pkts[0],
                    "resp_pkts": t.pkts[1],
                    "orig_ip_bytes": t.ip_bytes[0],
                    "resp_ip_bytes": t.ip_bytes[1],
                    "conn_state": state,
                    "history": history,
                    "vlan": first.vlan,
                    "inner_vlan": first.inner_vlan,
                    "mpls": list(first.mpls),
                    "tunnel": first.tunnel,
                    "end_reason": self.reasons.get(name, "eof"),
                    "start": iso(t.start),
                    "end": iso(t.end),
                    "tunnel_parents_count": len(t.parents),
                }
            )
        unknown = set(self.reasons) - set(tallies)
        assert not unknown, f"{self.name}: end reasons for unknown flows {unknown}"
        return out

    def write(self, outdir: Path, fmt: str = "pcap") -> None:
        writers: dict[str, Callable[[], bytes]] = {
            "pcap": lambda: self._pcap("<", nano=False),
            "pcap-ns": lambda: self._pcap("<", nano=True),
            "pcap-be": lambda: self._pcap(">", nano=False),
            "pcapng": self._pcapng,
        }
        (outdir / "pcaps" / self.name).write_bytes(writers[fmt]())
        lines = [json.dumps(flow) + "\n" for flow in self.flows()]
        (outdir / "expected" / (Path(self.name).stem + ".jsonl")).write_text("".join(lines), encoding="utf-8")

    def _pcap(self, order: str, *, nano: bool) -> bytes:
        ((linktype, _),) = self.interfaces
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
        for rec in self.records:
            sec, frac = divmod(rec.ts_us, 1_000_000)
            if nano:
                frac = frac * 1000 + 789  # sub-microsecond digits that must be truncated
            data = rec.frame[: rec.caplen] if rec.caplen is not None else rec.frame
            out.append(struct.pack(order + "IIII", sec, frac, len(data), len(rec.frame)) + data)
        return b"".join(out)

    def _pcapng(self) -> bytes:
        def block(kind: int, body: bytes) -> bytes:
            body += b"\0" * (-len(body) % 4)
            size = len(body) + 12
            return struct.pack("<II", kind, size) + body + struct.pack("<I", size)

        def option(code: int, value: bytes) -> bytes:
            return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

        out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
        for i, (linktype, tsresol) in enumerate(self.interfaces):
            opts = option(2, f"tap{i}".encode()) + option(9, bytes([tsresol])) + option(0, b"")
            out.append(block(1, struct.pack("<HHI", linktype, 0, 262144) + opts))
        out.append(block(4, struct.pack("<HH", 0, 0)))  # a name resolution block: skipped
        for rec in self.records:
            tsresol = self.interfaces[rec.interface][1]
            ticks = rec.ts_us * 10 ** (tsresol - 6) + (321 if tsresol == 9 else 0)
            body = struct.pack("<IIIII", rec.interface, ticks >> 32, ticks & 0xFFFFFFFF, len(rec.frame), len(rec.frame))
            out.append(block(6, body + rec.frame))
        last = self.records[-1].ts_us
        out.append(block(5, struct.pack("<III", 0, last >> 32, last & 0xFFFFFFFF) + option(0, b"")))
        return b"".join(out)


# ---------------------------------------------------------------------------------------------
# scenarios

HTTP_GET = b"GET / HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n"


def tcp_session() -> Capture:
    cap = Capture("tcp_session.pcap", 0)
    c, s, cp, sp = "192.0.2.10", "198.51.100.20", 49200, 80
    steps = [
        (250, c, "S", b""),
        (10_500, s, "SA", b""),
        (20_750, c, "A", b""),
        (21_000, c, "PA", HTTP_GET),
        (31_250, s, "A", b""),
        (32_250, s, "PA", b"x" * 500),
        (33_250, s, "PA", b"y" * 300),
        (34_500, c, "A", b""),
        (40_250, c, "FA", b""),
        (50_250, s, "FA", b""),
        (60_250, c, "A", b""),
    ]
    seq = {c: 1000, s: 5000}
    for t, who, flags, data in steps:
        other = s if who == c else c
        ports = (cp, sp) if who == c else (sp, cp)
        packet = tcp(who, other, *ports, flags, data, seq=seq[who], ack=seq[other] if "A" in flags else 0)
        seq[who] += len(data) + (1 if "S" in flags or "F" in flags else 0)
        cap.add(t, eth_ip(packet), Obs(packet, "session"))
    cap.pin("session", "SF", "ShADadFf")
    cap.end("session", "tcp_end")  # the capture goes on 10 s past the close
    ntp = udp(c, "203.0.113.123", 123, 123, bytes([0x23]) + bytes(47))
    cap.add(10_000_500, eth_ip(ntp), Obs(ntp, "ntp"))
    cap.pin("ntp", "S0", "D")
    return cap


def tcp_states() -> Capture:
    """One connection per conn_state, 10 s apart: closed ones end ``tcp_end``, the rest ``eof``."""
    cap = Capture("tcp_states.pcap", 1)
    c, s = "192.0.2.11", "198.51.100.21"

    def run(n: int, flow: str, sp: int, steps: list[tuple[str, str, bytes]], base: int | None = None) -> None:
        cp = 50_000 + n
        start = n * 10_000_000 + 250 if base is None else base
        for i, (who, flags, data) in enumerate(steps):
            src, dst, ports = (c, s, (cp, sp)) if who == "c" else (s, c, (sp, cp))
            packet = tcp(src, dst, *ports, flags, data, seq=1000 + i, ack=2000 + i if "A" in flags else 0)
            cap.add(start + i * 1_000, eth_ip(packet), Obs(packet, flow))

    run(0, "rej", 443, [("c", "S", b""), ("s", "RA", b"")])
    cap.pin("rej", "REJ", "Sr")
    cap.end("rej", "tcp_end")
    run(1, "s0", 443, [("c", "S", b""), ("c", "S", b"")])
    cap.pin("s0", "S0", "S")
    run(2, "rsto", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("c", "PA", b"hello"), ("c", "R", b"")])
    cap.pin("rsto", "RSTO", "ShADR")
    cap.end("rsto", "tcp_end")
    run(3, "rstos0", 443, [("c", "S", b""), ("c", "R", b"")])
    cap.pin("rstos0", "RSTOS0", "SR")
    cap.end("rstos0", "tcp_end")
    run(4, "sh", 443, [("c", "S", b""), ("c", "FA", b"")])
    cap.pin("sh", "SH", "SF")
    run(5, "shr", 443, [("s", "SA", b""), ("s", "FA", b"")])
    cap.pin("shr", "SHR", "^hf")
    run(6, "oth", 443, [("c", "PA", b"mid-stream"), ("s", "A", b"")])
    cap.pin("oth", "OTH", "Da")
    run(7, "s1", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b"")])
    cap.pin("s1", "S1", "ShA")
    run(8, "flipped", 443, [("s", "SA", b""), ("c", "A", b""), ("c", "PA", b"ping"), ("s", "PA", b"pong")])
    cap.pin("flipped", "OTH", "^hADd")
    run(9, "rstr", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("s", "R", b"")])
    cap.pin("rstr", "RSTR", "ShAr")
    cap.end("rstr", "tcp_end")
    run(10, "rstrh", 443, [("s", "SA", b""), ("s", "R", b"")])
    cap.pin("rstrh", "RSTRH", "^hr")
    cap.end("rstrh", "tcp_end")
    run(11, "s2", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("c", "FA", b"")])
    cap.pin("s2", "S2", "ShAF")
    run(12, "s3", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("s", "FA", b"")])
    cap.pin("s3", "S3", "ShAf")
    # A closed connection, and the same 5-tuple reused 2 s later (within the 5 s linger): a
    # SYN then starts a new flow; the capture ends 1 ms after that one's RST.
    close = [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("c", "FA", b""), ("s", "FA", b""), ("c", "A", b"")]
    run(13, "closed", 443, close)
    cap.pin("closed", "SF", "ShAFf")
    cap.end("closed", "tcp_end")
    run(13, "reused", 443, [("c", "S", b""), ("s", "SA", b""), ("c", "A", b""), ("c", "RA", b"")], base=132_000_250)
    cap.pin("reused", "RSTO", "ShAR")
    # Closed, but its 5 s linger has not passed at the last packet: ``eof`` by the Engine
    # protocol ("eof unless expired"), ``tcp_end`` by another reading of the final sweep. Not checked.
    cap.end("reused", None)
    return cap


def tcp_active() -> Capture:
    """A long poll: the server pushes every 100 s for 35 min; split at 1800 s, originator kept."""
    cap = Capture("tcp_active.pcap", 2)
    c, s, cp, sp = "192.0.2.12", "198.51.100.22", 50500, 5222
    hs = [(250, c, s, (cp, sp), "S"), (750, s, c, (sp, cp), "SA"), (1_250, c, s, (cp, sp), "A")]
    for t, src, dst, ports, flags in hs:
        packet = tcp(src, dst, *ports, flags, seq=7000, ack=9000 if "A" in flags else 0)
        cap.add(t, eth_ip(packet), Obs(packet, "first"))
    for k in range(1, 22):
        flow = "first" if k < 18 else "continued"  # the push at 1800.5 s is >= 1800 s after the start
        t = k * 100_000_000 + 500_250
        push = tcp(s, c, sp, cp, "PA", b"event %02d" % k, seq=9000 + k * 8, ack=7001)
        ack = tcp(c, s, cp, sp, "A", seq=7001, ack=9008 + k * 8)
        cap.add(t, eth_ip(push), Obs(push, flow))
        cap.add(t + 1_000, eth_ip(ack), Obs(ack, flow))
    cap.pin("first", "S1", "ShAd")
    cap.end("first", "active")
    cap.keep_originator("continued", c, cp)
    cap.pin("continued", "OTH", "dA")
    return cap


def udp_idle() -> Capture:
    """UDP 61 s apart: two flows; the second one's first packet comes from the other side."""
    cap = Capture("udp_idle.pcap", 3)
    a, b = "192.0.2.13", "198.51.100.23"
    for t, src, dst, ports, flow in [
        (250, a, b, (40001, 161), "before"),
        (2_500, b, a, (161, 40001), "before"),
        (61_003_000, b, a, (161, 40001), "after"),
        (61_004_000, a, b, (40001, 161), "after"),
    ]:
        packet = udp(src, dst, *ports, b"snmp-%d" % t)
        cap.add(t, eth_ip(packet), Obs(packet, flow))
    cap.end("before", "idle")
    cap.pin("before", "SF", "Dd")
    cap.pin("after", "SF", "Dd")
    return cap


def udp_dns() -> Capture:
    cap = Capture("udp_dns.pcap", 4)
    c, r = "192.0.2.14", "198.51.100.53"
    for i, name in enumerate(["www.example.com.", "mail.example.com."]):
        query = DNS(id=0x100 + i, rd=1, qd=DNSQR(qname=name, qtype="A"))
        answers = [DNSRR(rrname=name, type="A", ttl=300, rdata=f"203.0.113.{n}") for n in range(1, 31)]
        answer = DNS(id=0x100 + i, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"), an=answers)
        q = udp(c, r, 53001, 53, bytes(query))
        a = udp(r, c, 53, 53001, bytes(answer))
        cap.add(i * 1_000_000 + 250, eth_ip(q), Obs(q, "dns"))
        # the answer is cut to 64 bytes by the capture: volumes still count its full length
        cap.add(i * 1_000_000 + 12_750, eth_ip(a), Obs(a, "dns"), caplen=64)
    cap.pin("dns", "SF", "Dd")
    for i in range(3):
        log = udp(c, "203.0.113.14", 51400, 514, b"<13>Mar  1 00:00:0%d host app: message" % i)
        cap.add(2_000_250 + i * 100_000, eth_ip(log), Obs(log, "syslog"))
    cap.pin("syslog", "S0", "D")
    probe = udp(c, "198.51.100.7", 40007, 7, b"echo me")
    empty = udp("198.51.100.7", c, 7, 40007, b"")
    cap.add(3_000_250, eth_ip(probe), Obs(probe, "echo"))
    cap.add(3_001_250, eth_ip(empty), Obs(empty, "echo"))
    cap.pin("echo", "SF", "D")
    return cap


def icmp_file() -> Capture:
    cap = Capture("icmp.pcap", 5)
    a, b, far = "192.0.2.15", "198.51.100.25", "198.51.100.99"
    for i in range(2):
        request, reply = icmp_echo(a, b, False, i + 1), icmp_echo(b, a, True, i + 1)
        cap.add(i * 1_000_000 + 250, eth_ip(request), Obs(request, "echo"))
        cap.add(i * 1_000_000 + 1_250, eth_ip(reply), Obs(reply, "echo"))
    cap.pin("echo", "SF", "")
    probe = udp(a, far, 33000, 33434, b"traceroute probe")
    cap.add(2_000_250, eth_ip(probe), Obs(probe, "probe"))
    cap.pin("probe", "S0", "D")
    # the quoted IP header inside the ICMP error is not an observation
    unreachable = icmp_unreachable(far, a, 3, probe.data[:28])
    cap.add(2_001_250, eth_ip(unreachable), Obs(unreachable, "unreachable"))
    cap.pin("unreachable", "S0", "")
    return cap


def ipv6_ext() -> Capture:
    cap = Capture("ipv6_ext.pcap", 6)
    a, b = "2001:db8:1::15", "2001:db8:2::25"
    full = [IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(addresses=["2001:db8:ff::1"]), IPv6ExtHdrDestOpt()]
    q = udp(a, b, 40010, 5353, b"three extension headers", ext=full)
    r = udp(b, a, 5353, 40010, b"one extension header", ext=[IPv6ExtHdrDestOpt()])
    cap.add(250, eth_ip(q), Obs(q, "udp"))
    cap.add(1_250, eth_ip(r), Obs(r, "udp"))
    cap.pin("udp", "SF", "Dd")
    ping = icmp_echo(a, b, False, 1, ext=[IPv6ExtHdrHopByHop()])
    pong = icmp_echo(b, a, True, 1)
    cap.add(1_000_250, eth_ip(ping), Obs(ping, "icmp6"))
    cap.add(1_001_250, eth_ip(pong), Obs(pong, "icmp6"))
    cap.pin("icmp6", "SF", "")
    ah = ah_udp(a, b, 40011, 4500, b"authenticated")
    cap.add(2_000_250, eth_ip(ah), Obs(ah, "ah"))
    cap.pin("ah", "S0", "D")
    opts = [IPv6ExtHdrDestOpt()]
    for i, (src, dst, ports, flags) in enumerate(
        [(a, b, (40012, 443), "S"), (b, a, (443, 40012), "SA"), (a, b, (40012, 443), "A")]
    ):
        packet = tcp(src, dst, *ports, flags, seq=3000 + i, ack=4000 if "A" in flags else 0, ext=opts)
        cap.add(3_000_250 + i * 1_000, eth_ip(packet), Obs(packet, "tcp"))
    cap.pin("tcp", "S1", "ShA")
    return cap


def fragments() -> Capture:
    cap = Capture("fragments.pcap", 7)
    a, b = "192.0.2.16", "198.51.100.26"
    t = 250
    for i, part in enumerate(udp_fragments(a, b, 40020, 9000, bytes(range(250)) * 8, 0x4242, 800)):
        cap.add(t, eth_ip(part), Obs(part, "v4", fragment=i > 0))
        t += 100
    reply = udp(b, a, 9000, 40020, b"got it")
    cap.add(1_250, eth_ip(reply), Obs(reply, "v4"))
    cap.pin("v4", "SF", "Dd")
    a6, b6 = "2001:db8:1::16", "2001:db8:2::26"
    t = 1_000_250
    for i, part in enumerate(udp_fragments(a6, b6, 40021, 9000, bytes(range(200)) * 15, 0x5151, 1232)):
        cap.add(t, eth_ip(part), Obs(part, "v6", fragment=i > 0))
        t += 100
    reply6 = udp(b6, a6, 9000, 40021, b"got it")
    cap.add(1_001_250, eth_ip(reply6), Obs(reply6, "v6"))
    cap.pin("v6", "SF", "Dd")
    # orphans: the first fragment of these datagrams never arrives; no observation
    t = 2_000_250
    for part in udp_fragments(a, b, 40022, 9001, bytes(2000), 0x7777, 800)[1:]:
        cap.add(t, eth_ip(part))
        t += 100
    for part in udp_fragments(a6, b6, 40023, 9001, bytes(2000), 0x8888, 1232)[1:]:
        cap.add(t, eth_ip(part))
        t += 100
    return cap


def vlan() -> Capture:
    cap = Capture("vlan.pcap", 8)
    a, b, c = "192.0.2.17", "198.51.100.27", "203.0.113.27"
    q, r = udp(a, b, 40030, 53, b"dot1q query"), udp(b, a, 53, 40030, b"dot1q answer")
    cap.add(250, eth_ip(q, [(TPID_8021Q, 10)]), Obs(q, "dot1q", vlan=10))
    # the answer comes back tagged 11: a flow's tags are those of its first packet
    cap.add(1_250, eth_ip(r, [(TPID_8021Q, 11)]), Obs(r, "dot1q", vlan=11))
    cap.pin("dot1q", "SF", "Dd")
    qinq = [(TPID_8021AD, 100), (TPID_8021Q, 200)]
    q, r = udp(a, c, 40031, 123, b"qinq request"), udp(c, a, 123, 40031, b"qinq reply")
    cap.add(1_000_250, eth_ip(q, qinq), Obs(q, "qinq", vlan=100, inner_vlan=200))
    cap.add(1_001_250, eth_ip(r, qinq), Obs(r, "qinq", vlan=100, inner_vlan=200))
    cap.pin("qinq", "SF", "Dd")
    triple = [(TPID_9100, 300), (TPID_8021Q, 301), (TPID_8021Q, 302)]
    one = udp(a, b, 40032, 8080, b"three tags")
    cap.add(2_000_250, eth_ip(one, triple), Obs(one, "triple", vlan=300, inner_vlan=301))
    cap.pin("triple", "S0", "D")
    cap.add(3_000_250, arp_frame())  # not IP: no flow
    return cap


def mpls_file() -> Capture:
    cap = Capture("mpls.pcap", 9)
    a, b = "192.0.2.18", "198.51.100.28"
    q, r = udp(a, b, 40040, 5060, b"INVITE sip:bob@example.com"), udp(b, a, 5060, 40040, b"SIP/2.0 100 Trying")
    cap.add(250, ether(mpls([16000, 17000], q.data), 0x8847), Obs(q, "v4", mpls=(16000, 17000)))
    cap.add(1_250, ether(mpls([18000, 17001], r.data), 0x8847), Obs(r, "v4", mpls=(18000, 17001)))
    cap.pin("v4", "SF", "Dd")
    a6, b6 = "2001:db8:1::18", "2001:db8:2::28"
    q6 = udp(a6, b6, 40041, 5060, b"OPTIONS sip:example.com")
    cap.add(1_000_250, ether(mpls([16002, 17002], q6.data), 0x8847), Obs(q6, "v6", mpls=(16002, 17002)))
    cap.pin("v6", "S0", "D")
    deep = udp(a, b, 40042, 5061, b"five labels")
    labels = [100, 200, 300, 400, 500]
    cap.add(2_000_250, ether(mpls(labels, deep.data), 0x8847), Obs(deep, "deep", mpls=(100, 200, 300, 400)))
    cap.pin("deep", "S0", "D")
    return cap


def pppoe() -> Capture:
    cap = Capture("pppoe.pcap", 10)
    a, b = "192.0.2.19", "198.51.100.29"
    padi = struct.pack("!BBHH", 0x11, 0x09, 0, 4) + struct.pack("!HH", 0x0101, 0)  # discovery: not IP
    cap.add(250, ether(padi, 0x8863))
    q, r = udp(a, b, 40050, 53, b"pppoe v4 query"), udp(b, a, 53, 40050, b"pppoe v4 answer")
    cap.add(1_000_250, ether(pppoe_session(0x0101, 0x0021, q.data), 0x8864), Obs(q, "v4"))
    cap.add(1_001_250, ether(pppoe_session(0x0101, 0x0021, r.data), 0x8864), Obs(r, "v4"))
    cap.pin("v4", "SF", "Dd")
    a6, b6 = "2001:db8:1::19", "2001:db8:2::29"
    q6, r6 = udp(a6, b6, 40051, 53, b"pppoe v6 query"), udp(b6, a6, 53, 40051, b"pppoe v6 answer")
    cap.add(2_000_250, ether(pppoe_session(0x0101, 0x0057, q6.data), 0x8864), Obs(q6, "v6"))
    cap.add(2_001_250, ether(pppoe_session(0x0101, 0x0057, r6.data), 0x8864), Obs(r6, "v6"))
    cap.pin("v6", "SF", "Dd")
    lcp_echo = struct.pack("!BBHI", 9, 1, 8, 0x01020304)  # LCP echo request: not IP
    cap.add(3_000_250, ether(pppoe_session(0x0101, 0xC021, lcp_echo), 0x8864))
    return cap


def gre_file() -> Capture:
    cap = Capture("gre.pcap", 11)
    e1, e2 = "192.0.2.20", "198.51.100.30"
    h1, h2 = "10.0.18.1", "10.0.18.2"
    steps = [
        (250, e1, e2, udp(h1, h2, 40060, 53, b"via gre"), {"key": 7, "seq": 1}),
        (1_250, e2, e1, udp(h2, h1, 53, 40060, b"back via gre"), {"key": 7, "csum": True}),
        (1_000_250, e1, e2, icmp_echo(h1, h2, False, 1), {}),
        (1_001_250, e2, e1, icmp_echo(h2, h1, True, 1), {}),
    ]
    for t, src, dst, inner, options in steps:
        outer = carrier(src, dst, 47, gre(ETH_IPV4, inner.data, **options))
        flow = "inner_udp" if inner.proto == UDP_P else "inner_icmp"
        cap.add(t, eth_ip(outer), Obs(outer, "outer"), Obs(inner, flow, tunnel="gre", parent=0))
    cap.pin("outer", "SF", "")
    cap.pin("inner_udp", "SF", "Dd")
    cap.pin("inner_icmp", "SF", "")
    return cap


def _handshake(c: str, s: str, cp: int, sp: int) -> list[IPPacket]:
    return [
        tcp(c, s, cp, sp, "S", seq=100),
        tcp(s, c, sp, cp, "SA", seq=300, ack=101),
        tcp(c, s, cp, sp, "A", seq=101, ack=301),
        tcp(c, s, cp, sp, "PA", b"client hello", seq=101, ack=301),
    ]


def erspan2_file() -> Capture:
    """ERSPAN II; the inner frame has no tags, so the inner flow keeps the outer VLAN 5."""
    cap = Capture("erspan2.pcap", 12)
    sensor, collector = "192.0.2.21", "198.51.100.31"
    for i, inner in enumerate(_handshake("10.0.19.1", "10.0.19.2", 40070, 443)):
        frame = eth_ip(inner)
        outer = carrier(sensor, collector, 47, gre(0x88BE, erspan2(frame, 1, i), seq=i + 1))
        cap.add(
            250 + i * 1_000,
            eth_ip(outer, [(TPID_8021Q, 5)]),
            Obs(outer, "outer", vlan=5),
            Obs(inner, "inner", tunnel="gre,erspan", vlan=5, parent=0),
        )
    cap.pin("outer", "S0", "")
    cap.pin("inner", "S1", "ShAD")
    return cap


def erspan3_file() -> Capture:
    """ERSPAN III (one packet with the O bit); the inner VLAN 30 replaces the outer VLAN 6."""
    cap = Capture("erspan3.pcap", 13)
    sensor, collector = "192.0.2.22", "198.51.100.32"
    for i, inner in enumerate(_handshake("10.0.19.3", "10.0.19.4", 40071, 22)):
        frame = eth_ip(inner, [(TPID_8021Q, 30)])
        platform = bytes([0x20, 0, 0, 0, 0, 0, 0, 0]) if i == 1 else None
        outer = carrier(sensor, collector, 47, gre(0x22EB, erspan3(frame, 2, 1000 + i, platform), seq=i + 1))
        cap.add(
            250 + i * 1_000,
            eth_ip(outer, [(TPID_8021Q, 6)]),
            Obs(outer, "outer", vlan=6),
            Obs(inner, "inner", tunnel="gre,erspan", vlan=30, parent=0),
        )
    cap.pin("outer", "S0", "")
    cap.pin("inner", "S1", "ShAD")
    return cap


def vxlan_file() -> Capture:
    """Each VTEP picks its own source port: two one-way outer flows, two tunnel parents."""
    cap = Capture("vxlan.pcap", 14)
    v1, v2 = "192.0.2.23", "198.51.100.33"
    packets = [
        *_handshake("10.0.20.1", "10.0.20.2", 40080, 80),
        tcp("10.0.20.2", "10.0.20.1", 80, 40080, "PA", b"HTTP/1.1 200 OK\r\n\r\n", seq=301, ack=113),
    ]
    for i, inner in enumerate(packets):
        forward = inner.src == "10.0.20.1"
        outer = (
            udp(v1, v2, 49152, 4789, vxlan(100, eth_ip(inner)))
            if forward
            else udp(v2, v1, 50123, 4789, vxlan(100, eth_ip(inner)))
        )
        cap.add(
            250 + i * 1_000,
            eth_ip(outer),
            Obs(outer, "vtep1" if forward else "vtep2"),
            Obs(inner, "inner", tunnel="vxlan:100", parent=0),
        )
    cap.pin("vtep1", "S0", "D")
    cap.pin("vtep2", "S0", "D")
    cap.pin("inner", "S1", "ShADd")
    return cap


def geneve_file() -> Capture:
    cap = Capture("geneve.pcap", 15)
    t1, t2 = "192.0.2.24", "198.51.100.34"
    option = struct.pack("!HBB", 0x0102, 0x80, 1) + b"\xde\xad\xbe\xef"  # class, type, length 1 word
    for i in range(2):
        request, reply = icmp_echo("10.0.21.1", "10.0.21.2", False, i), icmp_echo("10.0.21.2", "10.0.21.1", True, i)
        out1 = udp(t1, t2, 51000, 6081, geneve(7, eth_ip(request), option))
        out2 = udp(t2, t1, 51001, 6081, geneve(7, eth_ip(reply), option))
        t = i * 1_000_000 + 250
        cap.add(t, eth_ip(out1), Obs(out1, "tep1"), Obs(request, "inner", tunnel="geneve:7", parent=0))
        cap.add(t + 1_000, eth_ip(out2), Obs(out2, "tep2"), Obs(reply, "inner", tunnel="geneve:7", parent=0))
    cap.pin("tep1", "S0", "D")
    cap.pin("tep2", "S0", "D")
    cap.pin("inner", "SF", "")
    return cap


def gtpu_file() -> Capture:
    """Uplink and downlink TEIDs differ; the subscriber's flow is one; echoes carry nothing."""
    cap = Capture("gtpu.pcap", 16)
    enb, sgw = "192.0.2.25", "198.51.100.35"
    echo_q, echo_r = udp(enb, sgw, 2152, 2152, gtp_echo(True, 1)), udp(sgw, enb, 2152, 2152, gtp_echo(False, 1))
    cap.add(250, eth_ip(echo_q), Obs(echo_q, "outer"))
    cap.add(1_250, eth_ip(echo_r), Obs(echo_r, "outer"))
    packets = [
        *_handshake("10.45.0.2", "203.0.113.80", 40090, 443),
        tcp("203.0.113.80", "10.45.0.2", 443, 40090, "PA", b"server hello", seq=301, ack=113),
    ]
    for i, inner in enumerate(packets):
        up = inner.src == "10.45.0.2"
        outer = (
            udp(enb, sgw, 2152, 2152, gtpu(0x1001, inner.data, i))
            if up
            else udp(sgw, enb, 2152, 2152, gtpu(0x2002, inner.data, i))
        )
        cap.add(1_000_250 + i * 1_000, eth_ip(outer), Obs(outer, "outer"), Obs(inner, "inner", tunnel="gtpu", parent=0))
    cap.pin("outer", "SF", "Dd")
    cap.pin("inner", "S1", "ShADd")
    return cap


def _ip_in_ip(name: str, hour: int, ends: tuple[str, str], inner: list[IPPacket], pins: tuple[str, str]) -> Capture:
    cap = Capture(name, hour)
    proto = 4
    for i, packet in enumerate(inner):
        proto = 41 if packet.version == 6 else 4
        forward = packet.src == inner[0].src
        src, dst = ends if forward else ends[::-1]
        outer = carrier(src, dst, proto, packet.data)
        cap.add(250 + i * 1_000, eth_ip(outer), Obs(outer, "outer"), Obs(packet, "inner", tunnel="ipip", parent=0))
    cap.pin("outer", "SF", "")
    cap.pin("inner", *pins)
    return cap


def ipip() -> Capture:
    h1, h2 = "10.0.22.1", "10.0.22.2"
    inner = [icmp_echo(h1, h2, False, 1), icmp_echo(h2, h1, True, 1)]
    return _ip_in_ip("ipip.pcap", 17, ("192.0.2.26", "203.0.113.26"), inner, ("SF", ""))


def six_in_four() -> Capture:
    inner = _handshake("2001:db8:23::1", "2001:db8:33::1", 40100, 80)[:3]
    return _ip_in_ip("6in4.pcap", 18, ("192.0.2.27", "198.51.100.37"), inner, ("S1", "ShA"))


def four_in_six() -> Capture:
    h1, h2 = "10.0.24.1", "10.0.24.2"
    inner = [udp(h1, h2, 40110, 53, b"4in6 query"), udp(h2, h1, 53, 40110, b"4in6 answer")]
    return _ip_in_ip("4in6.pcap", 19, ("2001:db8:24::1", "2001:db8:34::1"), inner, ("SF", "Dd"))


def teredo() -> Capture:
    """The server's reply carries an origin indication before the IPv6 header."""
    cap = Capture("teredo.pcap", 20)
    client, server = "192.0.2.28", "203.0.113.38"
    h1, h2 = "2001:db8:25::1", "2001:db8:35::1"
    request, reply = icmp_echo(h1, h2, False, 1), icmp_echo(h2, h1, True, 1)
    out1 = udp(client, server, 40120, 3544, request.data)
    out2 = udp(server, client, 3544, 40120, teredo_origin(40120, client) + reply.data)
    cap.add(250, eth_ip(out1), Obs(out1, "outer"), Obs(request, "inner", tunnel="teredo", parent=0))
    cap.add(1_250, eth_ip(out2), Obs(out2, "outer"), Obs(reply, "inner", tunnel="teredo", parent=0))
    cap.pin("outer", "SF", "Dd")
    cap.pin("inner", "SF", "")
    return cap


def _tiny(cap: Capture, octet: int, link: Callable[[IPPacket], bytes], interfaces: Sequence[int] = (0, 0)) -> Capture:
    a, b = f"192.0.2.{octet}", "198.51.100.40"
    q, r = udp(a, b, 40200, 7, b"link type probe"), udp(b, a, 7, 40200, b"link type probe")
    cap.add(250, link(q), Obs(q, "echo"), interface=interfaces[0])
    cap.add(1_250, link(r), Obs(r, "echo"), interface=interfaces[1])
    cap.pin("echo", "SF", "Dd")
    return cap


def link_variants() -> list[tuple[Capture, str]]:
    def mixed(packet: IPPacket) -> bytes:
        return eth_ip(packet) if packet.src.endswith(".36") else packet.data

    return [
        (_tiny(Capture("linux_sll.pcap", 21, interfaces=[(LINK_SLL, 6)]), 30, sll), "pcap"),
        (_tiny(Capture("linux_sll2.pcap", 22, interfaces=[(LINK_SLL2, 6)]), 31, sll2), "pcap"),
        (_tiny(Capture("raw_ip.pcap", 23, interfaces=[(LINK_RAW, 6)]), 32, lambda p: p.data), "pcap"),
        (_tiny(Capture("null_loopback.pcap", 24, interfaces=[(LINK_NULL, 6)]), 33, null_loopback), "pcap"),
        (_tiny(Capture("pcap_nanosecond.pcap", 25), 34, eth_ip), "pcap-ns"),
        (_tiny(Capture("pcap_bigendian.pcap", 26), 35, eth_ip), "pcap-be"),
        (
            _tiny(
                Capture("multi_interface.pcapng", 27, interfaces=[(LINK_ETHERNET, 6), (LINK_RAW, 9)]), 36, mixed, (0, 1)
            ),
            "pcapng",
        ),
    ]


SCENARIOS: list[Callable[[], Capture]] = [
    tcp_session,
    tcp_states,
    tcp_active,
    udp_idle,
    udp_dns,
    icmp_file,
    ipv6_ext,
    fragments,
    vlan,
    mpls_file,
    pppoe,
    gre_file,
    erspan2_file,
    erspan3_file,
    vxlan_file,
    geneve_file,
    gtpu_file,
    ipip,
    six_in_four,
    four_in_six,
    teredo,
]


def main(argv: list[str]) -> None:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    for sub in ("pcaps", "expected"):
        (outdir / sub).mkdir(parents=True, exist_ok=True)
    captures = [(scenario(), "pcap") for scenario in SCENARIOS] + link_variants()
    for cap, fmt in captures:
        cap.write(outdir, fmt)
    print(f"wrote {len(captures)} captures to {outdir}")


if __name__ == "__main__":
    main(sys.argv)
