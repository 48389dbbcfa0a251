"""The walk through one packet's headers, from the wire inwards: what a stripped packet keeps.

- link headers (Ethernet, Linux SLL / SLL2, BSD loopback, raw IP), 802.1Q / 802.1ad tags,
  MPLS labels, PPPoE and the PPP protocol, Ethernet ARP;
- IPv4 headers with their options' data zeroed (types and lengths stay, so the header still
  parses), IPv6 headers and extension headers with their option data, AH's ICV and unknown
  routing data zeroed; fragment headers as they are. A non-first fragment keeps only its IP
  headers;
- the innermost transport header: TCP with its options (those other than MSS, window
  scale, SACK and timestamps keep their kind and length, their data zeroed), UDP, ICMP and
  ICMPv6 (8 bytes: an error's quoted packet goes), SCTP's common header, ESP's SPI and
  sequence number;
- the tunnel headers the collectors follow, and under them the same walk again: the steps
  for those live in ``filters._strip_tunnels``, whose :class:`_TunnelWalk` completes this
  :class:`_Walk`.

A header that is not understood (an unknown ethertype or IP protocol, a malformed or
truncated header, a tunnel that does not decode, a fifth tunnel level) is cut with
everything after it: the walk fails closed and never keeps a byte it cannot name.

Checksums: IPv4 header checksums are recomputed over the rewritten header. TCP, UDP, ICMP,
SCTP and GRE checksums (and AH's ICV) are set to zero: they are functions of the payload,
and a kept one would leak part of it, or confirm a guessed payload.

Addresses, MACs and identifiers are rewritten through the walk's owner, the
:class:`~filters._strip_packet.PacketStripper`, which keeps their stand-ins between packets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from filters._strip_options import _checksum, _zero_ipv6_options, _zero_options

if TYPE_CHECKING:
    from filters._strip_packet import PacketStripper, _Renumber

MAX_TUNNELS = 4  # as the collectors: a fifth encapsulation level is not followed
VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
NULL_IPV6 = frozenset({10, 23, 24, 28, 30})  # AF_INET6 on Linux, Windows, the BSDs, macOS

# TCP options whose data is mechanical (kind -> the lengths it may have); the data of any
# other option is zeroed, its kind and length kept.
_TCP_KEPT = {2: (4,), 3: (3,), 4: (2,), 5: (10, 18, 26, 34), 8: (10,)}
# ICMP types whose bytes 4..7 are header fields (identifier, sequence, MTU, pointer, unused);
# for any other type they are zeroed. ICMPv4 redirect (5) carries a gateway address there.
_ICMP4_KNOWN = frozenset({0, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 30, 40, 42, 43})
_ICMP6_KNOWN = frozenset({1, 2, 3, 4, *range(128, 148), 151, 152, 153, 160, 161})


class _Cut(Exception):
    """The walk stops: the header at this point (and all after it) is not understood."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Walk(ABC):
    """The walk through one packet: ``buf`` is rewritten in place, ``keep`` bytes of it stay.

    Every step checks that its whole header lies inside ``end`` (the bound of the enclosing
    layer) before touching it, rewrites it, moves ``keep`` past it and hands on; a step that
    does not understand its header raises :class:`_Cut`.
    """

    def __init__(self, owner: PacketStripper, buf: bytearray) -> None:
        self.owner = owner
        self.buf = buf
        self.keep = 0
        self.depth = 0

    # --- plumbing -------------------------------------------------------------------

    def u16(self, pos: int) -> int:
        return (self.buf[pos] << 8) | self.buf[pos + 1]

    @staticmethod
    def need(pos: int, size: int, end: int) -> None:
        if pos + size > end:
            raise _Cut("truncated")

    def zero(self, start: int, stop: int) -> None:
        if stop > start:
            self.buf[start:stop] = bytes(stop - start)

    def enter(self) -> None:
        if self.depth >= MAX_TUNNELS:
            raise _Cut("too_deep")
        self.depth += 1

    def address(self, pos: int, size: int) -> None:
        self.buf[pos : pos + size] = self.owner.address(bytes(self.buf[pos : pos + size]))

    def mac(self, pos: int) -> None:
        self.buf[pos : pos + 6] = self.owner.macs(bytes(self.buf[pos : pos + 6]))

    def renumber(self, pos: int, size: int, table: _Renumber) -> None:
        value = table(int.from_bytes(self.buf[pos : pos + size], "big"))
        self.buf[pos : pos + size] = value.to_bytes(size, "big")

    # --- link layers ----------------------------------------------------------------

    def link(self, linktype: int) -> None:
        end = len(self.buf)
        if linktype == 1:
            self.ether(0, end)
        elif linktype == 113:
            self.sll(end)
        elif linktype == 276:
            self.sll2(end)
        elif linktype in (101, 12, 14):
            self.ip_by_nibble(0, end, "bad_ip")
        elif linktype == 228:
            self.ipv4(0, end)
        elif linktype == 229:
            self.ipv6(0, end)
        elif linktype in (0, 108):
            self.loopback(linktype, end)
        else:
            raise _Cut("unsupported_linktype")

    def sll(self, end: int) -> None:
        self.need(0, 16, end)
        self.link_address(6, self.u16(4))
        self.keep = 16
        self.ethertype(self.u16(14), 16, end)

    def sll2(self, end: int) -> None:
        self.need(0, 20, end)
        self.zero(2, 4)  # reserved
        self.link_address(12, self.buf[11])
        self.keep = 20
        self.ethertype(self.u16(0), 20, end)

    def link_address(self, pos: int, length: int) -> None:
        """The 8-byte address field of SLL / SLL2: a MAC is rewritten, anything else zeroed."""
        if length == 6:
            self.mac(pos)
            self.zero(pos + 6, pos + 8)
        else:
            self.zero(pos, pos + 8)

    def loopback(self, linktype: int, end: int) -> None:
        """NULL is in the capturing host's byte order, which we do not know: try both."""
        self.need(0, 4, end)
        family = int.from_bytes(self.buf[:4], "big")
        if linktype == 0:
            little = int.from_bytes(self.buf[:4], "little")
            if little == 2 or little in NULL_IPV6:
                family = little
        self.keep = 4
        if family == 2:
            self.ipv4(4, end)
        elif family in NULL_IPV6:
            self.ipv6(4, end)
        else:
            raise _Cut("unknown_family")

    def ether(self, pos: int, end: int) -> None:
        self.need(pos, 14, end)
        self.mac(pos)
        self.mac(pos + 6)
        self.keep = pos + 14
        etype = self.u16(pos + 12)
        if etype < 0x0600:  # an 802.3 length: LLC follows
            raise _Cut("llc")
        self.ethertype(etype, pos + 14, end)

    def ethertype(self, etype: int, pos: int, end: int) -> None:
        while etype in VLAN_TYPES:
            self.need(pos, 4, end)
            etype = self.u16(pos + 2)
            pos += 4
            self.keep = pos
        if etype == 0x0800:
            self.ipv4(pos, end)
        elif etype == 0x86DD:
            self.ipv6(pos, end)
        elif etype in (0x8847, 0x8848):
            self.mpls(pos, end)
        elif etype == 0x8864:
            self.pppoe(pos, end, session=True)
        elif etype == 0x8863:
            self.pppoe(pos, end, session=False)
        elif etype == 0x0806:
            self.arp(pos, end)
        else:
            raise _Cut("unknown_ethertype")

    def mpls(self, pos: int, end: int) -> None:
        while True:
            self.need(pos, 4, end)
            bottom = self.buf[pos + 2] & 0x01
            pos += 4
            self.keep = pos
            if bottom:
                break
        self.ip_by_nibble(pos, end, "mpls_payload")  # a pseudowire control word is cut

    def pppoe(self, pos: int, end: int, *, session: bool) -> None:
        """A PPPoE session (then the PPP protocol) or discovery header; discovery tags are cut."""
        self.need(pos, 8 if session else 6, end)
        if self.buf[pos] != 0x11:
            raise _Cut("bad_pppoe")
        self.renumber(pos + 2, 2, self.owner.pppoe_sessions)
        if not session:
            self.keep = pos + 6
            raise _Cut("pppoe_discovery")
        end = min(end, pos + 6 + self.u16(pos + 4))
        proto = self.u16(pos + 6)
        self.keep = pos + 8
        if proto == 0x0021:
            self.ipv4(pos + 8, end)
        elif proto == 0x0057:
            self.ipv6(pos + 8, end)
        else:
            raise _Cut("ppp_control")

    def arp(self, pos: int, end: int) -> None:
        self.need(pos, 8, end)
        self.keep = pos + 8
        if bytes(self.buf[pos : pos + 6]) != b"\x00\x01\x08\x00\x06\x04":
            raise _Cut("arp_other")  # not Ethernet / IPv4: the addresses are not read
        self.need(pos, 28, end)
        self.mac(pos + 8)
        self.address(pos + 14, 4)
        self.mac(pos + 18)
        self.address(pos + 24, 4)
        self.keep = pos + 28

    # --- IP ---------------------------------------------------------------------------

    def ip_by_nibble(self, pos: int, end: int, reason: str) -> None:
        self.need(pos, 1, end)
        version = self.buf[pos] >> 4
        if version == 4:
            self.ipv4(pos, end)
        elif version == 6:
            self.ipv6(pos, end)
        else:
            raise _Cut(reason)

    def ipv4(self, pos: int, end: int) -> None:
        self.need(pos, 20, end)
        buf = self.buf
        size = (buf[pos] & 0x0F) * 4
        total = self.u16(pos + 2)
        if buf[pos] >> 4 != 4 or size < 20 or total < size:
            raise _Cut("bad_ip")
        self.need(pos, size, end)
        self.address(pos + 12, 4)
        self.address(pos + 16, 4)
        _zero_options(buf, pos + 20, pos + size, {})
        buf[pos + 10 : pos + 12] = b"\0\0"
        buf[pos + 10 : pos + 12] = _checksum(buf[pos : pos + size]).to_bytes(2, "big")
        self.keep = pos + size
        frag = self.u16(pos + 6)
        if frag & 0x1FFF:
            return  # a non-first fragment: its IP header only
        self.ip_payload(4, buf[pos + 9], pos + size, min(end, pos + total), bool(frag & 0x2000))

    def ipv6(self, pos: int, end: int) -> None:
        self.need(pos, 40, end)
        if self.buf[pos] >> 4 != 6:
            raise _Cut("bad_ip")
        self.address(pos + 8, 16)
        self.address(pos + 24, 16)
        self.keep = pos + 40
        self.ip_payload(6, self.buf[pos + 6], pos + 40, min(end, pos + 40 + self.u16(pos + 4)), False)

    def ip_payload(self, version: int, proto: int, pos: int, end: int, fragmented: bool) -> None:
        """Extension headers (and AH, in either version), then the transport header."""
        while True:
            if proto == 51:
                size = self.ah(pos, end)
            elif version == 6 and proto in (0, 60):
                size = self.options_header(pos, end)
            elif version == 6 and proto == 43:
                size = self.routing(pos, end)
            elif version == 6 and proto == 44:
                self.need(pos, 8, end)
                self.buf[pos + 1] = 0  # reserved
                fragmented = True
                if self.u16(pos + 2) >> 3:
                    self.keep = pos + 8
                    return  # a non-first fragment: its IP headers only
                size = 8
            elif version == 6 and proto in (135, 139, 140):  # Mobility, HIP, Shim6: data unknown
                size = self.ext_size(pos, end, 8)
                self.zero(pos + 2, pos + size)
            else:
                break
            proto = self.buf[pos]
            pos += size
            self.keep = pos
        self.transport(version, proto, pos, end, fragmented)

    def ext_size(self, pos: int, end: int, unit: int) -> int:
        self.need(pos, 8, end)
        size = (self.buf[pos + 1] + (1 if unit == 8 else 2)) * unit
        self.need(pos, size, end)
        return size

    def options_header(self, pos: int, end: int) -> int:
        """Hop-by-hop or destination options: types and lengths stay, option data is zeroed."""
        size = self.ext_size(pos, end, 8)
        _zero_ipv6_options(self.buf, pos + 2, pos + size)
        return size

    def routing(self, pos: int, end: int) -> int:
        """Addresses of type 0, 2 and segment routing (4) headers are rewritten; other data zeroed."""
        size = self.ext_size(pos, end, 8)
        kind = self.buf[pos + 2]
        if kind in (0, 2) and (size - 8) % 16 == 0:
            self.zero(pos + 4, pos + 8)
            for at in range(pos + 8, pos + size, 16):
                self.address(at, 16)
        elif kind == 4 and 8 + (self.buf[pos + 4] + 1) * 16 <= size:
            stop = pos + 8 + (self.buf[pos + 4] + 1) * 16
            for at in range(pos + 8, stop, 16):
                self.address(at, 16)
            self.zero(stop, pos + size)  # TLVs (an HMAC among them)
        else:
            self.zero(pos + 4, pos + size)
        return size

    def ah(self, pos: int, end: int) -> int:
        """AH: next header, length, SPI and sequence number stay; the ICV (a MAC of the payload) is zeroed."""
        size = self.ext_size(pos, end, 4)
        if size < 12:
            raise _Cut("bad_ah")
        self.zero(pos + 2, pos + 4)
        self.zero(pos + 12, pos + size)
        return size

    def transport(self, version: int, proto: int, pos: int, end: int, fragmented: bool) -> None:
        if proto == 6:
            self.tcp(pos, end)
        elif proto == 17:
            self.udp(pos, end, fragmented)
        elif proto in (1, 58):
            self.icmp(proto, pos, end)
        elif proto == 132:
            self.fixed(pos, end, 12, checksum=(8, 12))
        elif proto == 50:
            self.fixed(pos, end, 8)  # ESP: SPI and sequence number; the rest is ciphertext
        elif proto == 59:
            return  # no next header
        elif proto in (4, 41, 47):
            if fragmented:
                raise _Cut("fragmented_tunnel")  # as the collectors: not followed
            if proto == 47:
                self.gre(pos, end)
            else:
                self.enter()
                (self.ipv4 if proto == 4 else self.ipv6)(pos, end)
        else:
            raise _Cut("unknown_protocol")

    def fixed(self, pos: int, end: int, size: int, checksum: tuple[int, int] | None = None) -> None:
        self.need(pos, size, end)
        if checksum is not None:
            self.zero(pos + checksum[0], pos + checksum[1])
        self.keep = pos + size

    def tcp(self, pos: int, end: int) -> None:
        self.need(pos, 20, end)
        size = (self.buf[pos + 12] >> 4) * 4
        if size < 20:
            raise _Cut("bad_tcp")
        self.need(pos, size, end)
        self.zero(pos + 16, pos + 18)  # the checksum: a function of the payload
        _zero_options(self.buf, pos + 20, pos + size, _TCP_KEPT)
        self.keep = pos + size

    def udp(self, pos: int, end: int, fragmented: bool) -> None:
        self.fixed(pos, end, 8, checksum=(6, 8))  # the checksum: a function of the payload
        length = self.u16(pos + 4)
        if fragmented or length < 8:
            return
        self.udp_tunnel(self.u16(pos), self.u16(pos + 2), pos + 8, min(end, pos + length))

    def icmp(self, proto: int, pos: int, end: int) -> None:
        """Type, code, checksum (zeroed) and the 4 bytes after; whatever follows (a quoted packet) goes."""
        self.need(pos, 8, end)
        kind = self.buf[pos]
        self.zero(pos + 2, pos + 4)
        if proto == 1 and kind == 5:
            self.address(pos + 4, 4)  # the redirect's gateway
        elif kind not in (_ICMP4_KNOWN if proto == 1 else _ICMP6_KNOWN):
            self.zero(pos + 4, pos + 8)
        self.keep = pos + 8

    # --- tunnels: the steps of _TunnelWalk (filters._strip_tunnels) --------------------

    @abstractmethod
    def udp_tunnel(self, sport: int, dport: int, pos: int, end: int) -> None:
        """The tunnel header a UDP datagram carries, if it is one the collectors follow."""

    @abstractmethod
    def gre(self, pos: int, end: int) -> None:
        """A GRE header and what it carries."""
