"""Packet -> observations with scapy's own layers (docs/collectors.md, "Decoding").

The walk goes from the wire inwards, one scapy layer at a time, and dispatches by the
contract's rules rather than scapy's port bindings. Every IP header met makes one
:class:`Observation`; tags, labels and the enclosing observation travel in a
``Context``. Tunnels are in ``_scapy_tunnels``. A problem stops the walk; observations already made stay.
"""

from __future__ import annotations

import socket
from dataclasses import replace

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.layers.ppp import PPPoE
from scapy.layers.sctp import SCTP

from collectors._communityid import icmp_ports
from collectors._pyflows import Observation
from collectors._scapy_layers import Context, DecodeProblem, IcmpHeader, IPv6GenericExtHdr, PppProtocol, dissect
from collectors._scapy_tunnels import TunnelWalk

FRAGMENT_KEEP_US = 30_000_000
MAX_MPLS = 4
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
NULL_IPV6 = (10, 23, 24, 28, 30)  # AF_INET6 on Linux, Windows, the BSDs, macOS
IPV6_EXT = {0: IPv6ExtHdrHopByHop, 43: IPv6ExtHdrRouting, 60: IPv6ExtHdrDestOpt}
IPV6_GENERIC_EXT = (135, 139, 140)

FragKey = tuple[int, bytes, bytes, int, int]


class Decoder:
    """Decodes packets one at a time; keeps the fragment table between them."""

    def __init__(self) -> None:
        # (version, src, dst, protocol, ident) -> (first fragment time, proto, sport, dport)
        self.fragments: dict[FragKey, tuple[int, int, int, int]] = {}

    def purge(self, now_us: int) -> None:
        """Forget first fragments older than 30 s of packet time."""
        for key, entry in list(self.fragments.items()):
            if now_us - entry[0] > FRAGMENT_KEEP_US:
                del self.fragments[key]

    def decode(self, linktype: int, frame: bytes, ts_us: int) -> tuple[list[Observation], str | None]:
        """The observations of one packet (outermost first) and its problem kind, if any."""
        walk = _Walk(self, ts_us)
        try:
            walk.link(linktype, frame)
        except DecodeProblem as problem:
            return walk.observations, problem.kind
        return walk.observations, None


class _Walk(TunnelWalk):
    """The walk through one packet."""

    def __init__(self, decoder: Decoder, ts_us: int) -> None:
        self.decoder = decoder
        self.ts_us = ts_us
        self.observations: list[Observation] = []

    # --- link layers ------------------------------------------------------------

    def link(self, linktype: int, data: bytes) -> None:
        ctx = Context()
        if linktype == 1:
            self.ether(data, ctx)
        elif linktype in (113, 276):
            cls, size = (CookedLinux, 16) if linktype == 113 else (CookedLinuxV2, 20)
            self.need(data, size)
            sll, rest = dissect(cls, data)
            self.ethertype(sll.proto, rest, ctx)
        elif linktype in (101, 12, 14):
            self.ip_by_nibble(data, ctx, kind="bad_ip")
        elif linktype == 228:
            self.ipv4(data, ctx)
        elif linktype == 229:
            self.ipv6(data, ctx)
        elif linktype in (0, 108):
            self.loopback(linktype, data, ctx)
        else:
            raise DecodeProblem("unsupported_linktype")

    def loopback(self, linktype: int, data: bytes, ctx: Context) -> None:
        """NULL is in the capturing host's byte order, which we do not know: try both."""
        self.need(data, 4)
        family = int.from_bytes(data[:4], "big")
        if linktype == 0:
            little = int.from_bytes(data[:4], "little")
            if little == 2 or little in NULL_IPV6:
                family = little
        if family == 2:
            self.ipv4(data[4:], ctx)
        elif family in NULL_IPV6:
            self.ipv6(data[4:], ctx)
        else:
            raise DecodeProblem("non_ip")

    def ether(self, data: bytes, ctx: Context) -> None:
        self.need(data, 14)
        eth, rest = dissect(Ether, data)
        etype = getattr(eth, "type", None)  # an 802.3 length field makes scapy's Dot3
        if etype is None:
            raise DecodeProblem("non_ip")
        self.ethertype(etype, rest, ctx)

    def ethertype(self, etype: int, data: bytes, ctx: Context) -> None:
        """802.1Q / 802.1ad tags (first ``vlan``, second ``inner_vlan``), then the payload."""
        tags: list[int] = []
        while etype in VLAN_TYPES:
            self.need(data, 4)
            tag, data = dissect(Dot1Q, data)
            tags.append(tag.vlan)
            etype = tag.type
        if tags:  # tags of its own replace the ones met further out
            ctx = replace(ctx, vlan=tags[0], inner_vlan=tags[1] if len(tags) > 1 else None)
        if etype == 0x0800:
            self.ipv4(data, ctx)
        elif etype == 0x86DD:
            self.ipv6(data, ctx)
        elif etype in (0x8847, 0x8848):
            self.mpls(data, ctx)
        elif etype == 0x8864:
            self.pppoe(data, ctx)
        else:
            raise DecodeProblem("non_ip")

    def mpls(self, data: bytes, ctx: Context) -> None:
        labels: list[int] = []
        while True:
            self.need(data, 4)
            shim, data = dissect(MPLS, data)
            labels.append(shim.label)
            if shim.s:
                break
        ctx = replace(ctx, mpls=tuple(labels[:MAX_MPLS]))
        self.need(data, 1)
        self.ip_by_nibble(data, ctx, kind="mpls_payload")

    def pppoe(self, data: bytes, ctx: Context) -> None:
        self.need(data, 8)
        _, rest = dissect(PPPoE, data)
        ppp, rest = dissect(PppProtocol, rest)
        if ppp.proto == 0x0021:
            self.ipv4(rest, ctx)
        elif ppp.proto == 0x0057:
            self.ipv6(rest, ctx)
        else:
            raise DecodeProblem("non_ip")

    # --- IP -----------------------------------------------------------------------

    def ip_by_nibble(self, data: bytes, ctx: Context, kind: str) -> None:
        self.need(data, 1)
        version = data[0] >> 4
        if version == 4:
            self.ipv4(data, ctx)
        elif version == 6:
            self.ipv6(data, ctx)
        else:
            raise DecodeProblem(kind)

    def ipv4(self, data: bytes, ctx: Context) -> None:
        self.need(data, 20)
        ip, _ = dissect(IP, data, kind="bad_ip")
        header = ip.ihl * 4
        if ip.version != 4 or ip.ihl < 5 or ip.len < header:
            raise DecodeProblem("bad_ip")
        self.need(data, header)
        src, dst = socket.inet_aton(ip.src), socket.inet_aton(ip.dst)
        payload = data[header : ip.len]
        more, offset = bool(ip.flags.MF), int(ip.frag)
        frag_key = (4, src, dst, ip.proto, ip.id) if more or offset else None
        self.ip_payload(4, src, dst, ip.proto, ip.len, payload, ip.len - header, frag_key, offset > 0, ctx)

    def ipv6(self, data: bytes, ctx: Context) -> None:
        self.need(data, 40)
        ip6, _ = dissect(IPv6, data, kind="bad_ip")
        if ip6.version != 6:
            raise DecodeProblem("bad_ip")
        src, dst = socket.inet_pton(socket.AF_INET6, ip6.src), socket.inet_pton(socket.AF_INET6, ip6.dst)
        payload = data[40 : 40 + ip6.plen]
        remaining = ip6.plen  # the IP payload length left after the extension headers
        proto = ip6.nh
        frag_key: FragKey | None = None
        non_first = False
        while proto in IPV6_EXT or proto in IPV6_GENERIC_EXT or proto in (44, 51):
            self.need(payload, 8)
            if proto == 44:
                frag, _ = dissect(IPv6ExtHdrFragment, payload)
                frag_key = (6, src, dst, frag.nh, frag.id)
                non_first = frag.offset > 0
                size, nxt = 8, frag.nh
                if non_first:
                    payload, remaining, proto = b"", remaining - size, nxt
                    break
            elif proto == 51:  # AH starts like any extension header, its length in 4-byte units
                ah, _ = dissect(IPv6GenericExtHdr, payload)
                size, nxt = (ah.len + 2) * 4, ah.nh
            else:
                ext, _ = dissect(IPV6_EXT.get(proto, IPv6GenericExtHdr), payload)
                size, nxt = (ext.len + 1) * 8, ext.nh
            self.need(payload, size)
            payload, remaining, proto = payload[size:], remaining - size, nxt
        self.ip_payload(6, src, dst, proto, 40 + ip6.plen, payload, remaining, frag_key, non_first, ctx)

    def ip_payload(
        self,
        version: int,
        src: bytes,
        dst: bytes,
        proto: int,
        ip_bytes: int,
        payload: bytes,
        l4_len: int,
        frag_key: FragKey | None,
        non_first: bool,
        ctx: Context,
    ) -> None:
        """Fragments, the transport header, the observation, then any tunnel inside."""
        base = Observation(
            self.ts_us, version, proto, src, dst, 0, 0, ip_bytes,
            vlan=ctx.vlan, inner_vlan=ctx.inner_vlan, mpls=ctx.mpls, tunnel=ctx.tunnel, parent=ctx.parent,
        )  # fmt: skip
        fragments = self.decoder.fragments
        if non_first:
            assert frag_key is not None
            entry = fragments.get(frag_key)
            if entry is None or self.ts_us - entry[0] > FRAGMENT_KEEP_US:
                raise DecodeProblem("orphan_fragment")
            _, proto, sport, dport = entry
            self.observations.append(replace(base, proto=proto, sport=sport, dport=dport, is_fragment=True))
            return
        sport, dport, flags, payload_len, inner = self.transport(proto, payload, l4_len)
        if frag_key is not None:
            fragments[frag_key] = (self.ts_us, proto, sport, dport)
        index = len(self.observations)
        self.observations.append(replace(base, sport=sport, dport=dport, tcp_flags=flags, payload_len=payload_len))
        if frag_key is None:  # a tunnel inside a fragmented packet is not followed
            self.tunnel(proto, sport, dport, inner, replace(ctx, parent=index))

    def transport(self, proto: int, data: bytes, l4_len: int) -> tuple[int, int, int, int, bytes]:
        """(sport, dport, TCP flags, payload length, payload bytes) of a transport header."""
        if proto == 6:
            self.need(data, 20)
            tcp, _ = dissect(TCP, data)
            return tcp.sport, tcp.dport, int(tcp.flags) & 0xFF, max(0, l4_len - tcp.dataofs * 4), b""
        if proto == 17:
            self.need(data, 8)
            udp, _ = dissect(UDP, data)
            return udp.sport, udp.dport, 0, max(0, l4_len - 8), data[8:]
        if proto in (1, 58):
            self.need(data, 8)
            icmp, _ = dissect(IcmpHeader, data)
            sport, dport, _ = icmp_ports(proto, icmp.type, icmp.code)
            return sport, dport, 0, max(0, l4_len - 8), b""
        if proto == 132:
            self.need(data, 12)
            sctp, _ = dissect(SCTP, data)
            return sctp.sport, sctp.dport, 0, max(0, l4_len - 12), b""
        return 0, 0, 0, max(0, l4_len), data
