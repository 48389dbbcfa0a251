"""Headers-only captures for evidence sharing: every payload byte gone, identifiers rewritten.

:func:`strip_capture` reads a pcap or pcapng file and writes the same packets as a snaplen
capture would have recorded them had it stopped after the last header metagate understands:
each record keeps its timestamp and original wire length, and its captured length becomes
the bytes kept. One link type (and a timestamp resolution a classic pcap can hold) gives a
classic pcap of that link type and resolution; anything else gives pcapng.

What a packet keeps (:class:`PacketStripper`), walking from the wire inwards:

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
- the tunnel headers the collectors follow (GRE, ERSPAN II / III, VXLAN, Geneve with its
  option data zeroed, GTP-U with its extension contents zeroed, IP in IP, 6in4, 4in6,
  Teredo with its authentication data zeroed), and under them the same walk again.

A header that is not understood (an unknown ethertype or IP protocol, a malformed or
truncated header, a tunnel that does not decode, a fifth tunnel level) is cut with
everything after it: the walk fails closed and never keeps a byte it cannot name. A packet
whose first header is not understood is not written at all; both are counted by reason.

Identifiers: every IPv4 / IPv6 address in every IP header (outer and inner, ARP, IPv6
routing headers, an ICMP redirect's gateway, Teredo's origin indication) goes through the
caller's ``rewrite_address``; MAC addresses become locally administered 02:00:00:00:00:01,
...:02, ... in order of appearance (03:... for group addresses; broadcast and all-zero stay);
GTP-U TEIDs, GRE keys and PPPoE session ids are renumbered 1, 2, ... per distinct value (0
stays 0). IMSI, MSISDN and the like live in GTP-C and payloads, which are never kept.

File metadata: a pcapng output has one section header (naming metagate as the writing
application) and, per input interface, its link type, snaplen, timestamp resolution and
offset. Everything else (interface names and descriptions, host and OS strings, comments,
packet flags and hashes, name resolution, decryption secrets, custom blocks) is dropped:
a name record maps original addresses to names, a packet hash is a function of the payload.

Checksums: IPv4 header checksums are recomputed over the rewritten header. TCP, UDP, ICMP,
SCTP and GRE checksums (and AH's ICV) are set to zero: they are functions of the payload,
and a kept one would leak part of it, or confirm a guessed payload.

Errors: a file that is no capture raises :class:`policies.NotACaptureError`; damage raises
:class:`policies.CaptureError` with the file and byte offset (or, with ``strict=False``, is
skipped as the collectors skip it and listed in :attr:`StripSummary.problems`). A rewritten
address that is not an address of the same version raises :class:`policies.GateViolation`
(its message names no address). Whatever fails, no output file is left behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import stat
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from collectors import FileSource, PacketBatch
from policies import CaptureError, ConfigError, GateViolation, MetagateError

AddressRewriter = Callable[[str], str]

MAX_TUNNELS = 4  # as the collectors: a fifth encapsulation level is not followed
VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
NULL_IPV6 = frozenset({10, 23, 24, 28, 30})  # AF_INET6 on Linux, Windows, the BSDs, macOS
VXLAN_PORT, GENEVE_PORT, GTPU_PORT, TEREDO_PORT = 4789, 6081, 2152, 3544
_BROADCAST, _NO_MAC = b"\xff" * 6, b"\0" * 6

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


@dataclass(frozen=True, slots=True)
class StrippedPacket:
    """One packet after :meth:`PacketStripper.strip`.

    ``data`` is the bytes to write, or ``None`` when nothing of the packet was understood
    (the packet is dropped, ``reason`` says why). Otherwise ``reason`` is ``None`` when the
    walk ended at a transport header (or a non-first fragment, an ARP message, a UDP payload
    that is no tunnel), or names what was cut short.
    """

    data: bytes | None
    reason: str | None = None


class _Renumber:
    """Small sequential stand-ins for an identifier: 1, 2, ... per distinct value; 0 stays 0."""

    def __init__(self, bits: int) -> None:
        self._top = (1 << bits) - 1
        self._map: dict[int, int] = {}

    def __call__(self, value: int) -> int:
        if value == 0:
            return 0
        out = self._map.get(value)
        if out is None:
            out = self._map[value] = len(self._map) % self._top + 1
        return out

    def __len__(self) -> int:
        return len(self._map)


class _MacMap:
    """Locally administered stand-ins in order of appearance; the group bit is kept."""

    def __init__(self) -> None:
        self._map: dict[bytes, bytes] = {}

    def __call__(self, mac: bytes) -> bytes:
        if mac in (_BROADCAST, _NO_MAC):
            return mac
        out = self._map.get(mac)
        if out is None:
            first = 0x02 | (mac[0] & 0x01)
            out = self._map[mac] = bytes([first]) + (len(self._map) + 1).to_bytes(5, "big")
        return out

    def __len__(self) -> int:
        return len(self._map)


class PacketStripper:
    """Strips packets one at a time; keeps the address, MAC and TEID stand-ins between them."""

    def __init__(self, rewrite_address: AddressRewriter) -> None:
        self._rewrite = rewrite_address
        self._addresses: dict[bytes, bytes] = {}
        self.macs = _MacMap()
        self.teids = _Renumber(32)
        self.gre_keys = _Renumber(32)
        self.pppoe_sessions = _Renumber(16)

    @property
    def addresses(self) -> int:
        """How many distinct addresses were rewritten."""
        return len(self._addresses)

    def strip(self, linktype: int, frame: bytes) -> StrippedPacket:
        """The headers of ``frame`` (a packet of link type ``linktype``), rewritten."""
        walk = _Walk(self, bytearray(frame))
        reason = None
        try:
            walk.link(linktype)
        except _Cut as cut:
            reason = cut.reason
        except (IndexError, struct.error):  # a header the checks let through by mistake
            walk.keep, reason = 0, "malformed"
        if walk.keep == 0:
            return StrippedPacket(None, reason or "truncated")
        return StrippedPacket(bytes(walk.buf[: walk.keep]), reason)

    def address(self, packed: bytes) -> bytes:
        """The stand-in for one packed IPv4 or IPv6 address (the rewriter asked once per address)."""
        out = self._addresses.get(packed)
        if out is None:
            out = self._addresses[packed] = self._ask(packed)
        return out

    def _ask(self, packed: bytes) -> bytes:
        version = 4 if len(packed) == 4 else 6
        text = socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, packed)
        # Messages name no address: they may end up in logs the evidence does not go with.
        try:
            result = self._rewrite(text)
        except MetagateError:
            raise
        except Exception as exc:
            raise GateViolation(f"the address rewriter failed on an IPv{version} address: {exc!r}") from exc
        if not isinstance(result, str):
            raise GateViolation(f"the address rewriter returned {type(result).__name__}, not the text of an address")
        try:
            new = ipaddress.ip_address(result)
        except ValueError as exc:
            raise GateViolation(f"the address rewriter returned no IP address for an IPv{version} address") from exc
        if new.version != version:
            raise GateViolation(f"the address rewriter turned an IPv{version} address into IPv{new.version}")
        return new.packed


class _Walk:
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

    # --- tunnels ----------------------------------------------------------------------

    def udp_tunnel(self, sport: int, dport: int, pos: int, end: int) -> None:
        """The first UDP tunnel (in the collectors' order) whose header is recognised."""
        buf, size = self.buf, end - pos
        if dport == VXLAN_PORT and size >= 8 and buf[pos] & 0x08:
            self.vxlan(pos, end)
        elif dport == GENEVE_PORT and size >= 8 and buf[pos] >> 6 == 0:
            self.geneve(pos, end)
        elif GTPU_PORT in (sport, dport) and size >= 8 and buf[pos] >> 4 == 0x3:  # version 1, PT 1
            self.gtpu(pos, end)
        elif TEREDO_PORT in (sport, dport):
            self.teredo(pos, end)
        # anything else is the datagram's payload: nothing of it is kept

    def vxlan(self, pos: int, end: int) -> None:
        self.enter()
        self.zero(pos + 1, pos + 4)  # reserved
        self.buf[pos + 7] = 0
        self.keep = pos + 8
        self.ether(pos + 8, end)

    def geneve(self, pos: int, end: int) -> None:
        self.enter()
        size = 8 + (self.buf[pos] & 0x3F) * 4
        self.need(pos, size, end)
        self.buf[pos + 1] &= 0xC0  # O and C stay, reserved bits go
        self.buf[pos + 7] = 0
        _zero_geneve_options(self.buf, pos + 8, pos + size)
        self.keep = pos + size
        proto = self.u16(pos + 2)
        if proto == 0x6558:
            self.ether(pos + size, end)
        elif proto in (0x0800, 0x86DD):
            self.ethertype(proto, pos + size, end)
        else:
            raise _Cut("bad_tunnel")

    def gtpu(self, pos: int, end: int) -> None:
        """GTPv1-U: the TEID renumbered, extension contents zeroed; a G-PDU's inner packet follows."""
        buf = self.buf
        flags, kind = buf[pos], buf[pos + 1]
        end = min(end, pos + 8 + self.u16(pos + 2))
        self.renumber(pos + 4, 4, self.owner.teids)
        self.keep = pos + 8
        at = pos + 8
        if flags & 0x07:
            self.need(pos, 12, end)
            at = pos + 12
            self.keep = at
            next_ext = buf[pos + 11] if flags & 0x04 else 0
            while next_ext:
                self.need(at, 1, end)
                size = buf[at] * 4
                if size == 0:
                    raise _Cut("bad_tunnel")
                self.need(at, size, end)
                self.zero(at + 1, at + size - 1)
                next_ext = buf[at + size - 1]
                at += size
                self.keep = at
        if kind != 255:
            raise _Cut("gtp_message")  # echo, error indication, end marker: information elements cut
        self.enter()
        self.ip_by_nibble(at, end, "bad_tunnel")

    def teredo(self, pos: int, end: int) -> None:
        """Teredo: authentication (data zeroed) and origin indication (address rewritten), then IPv6."""
        buf, at = self.buf, pos
        auth = origin = None
        if end - at >= 4 and self.u16(at) == 1:
            size = 4 + buf[at + 2] + buf[at + 3] + 9  # client id, value, nonce, confirmation
            if end - at < size:
                return
            auth, at = (at, size), at + size
        if end - at >= 8 and self.u16(at) == 0:
            origin, at = at, at + 8
        if end - at < 40 or buf[at] >> 4 != 6:
            return  # not Teredo after all: the datagram's payload, not kept
        self.enter()
        if auth is not None:
            self.zero(auth[0] + 4, auth[0] + auth[1])
        if origin is not None:  # the client's address and port, each bit inverted
            plain = bytes(b ^ 0xFF for b in buf[origin + 4 : origin + 8])
            buf[origin + 4 : origin + 8] = bytes(b ^ 0xFF for b in self.owner.address(plain))
        self.keep = at
        self.ipv6(at, end)

    def gre(self, pos: int, end: int) -> None:
        """GRE version 0 with the C, K and S fields; anything else (routing, version 1) is cut."""
        self.enter()
        self.need(pos, 4, end)
        flags, proto = self.u16(pos), self.u16(pos + 2)
        if flags & 0x4FFF:
            raise _Cut("bad_tunnel")
        size = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
        self.need(pos, size, end)
        at = pos + 4
        if flags & 0x8000:
            self.zero(at, at + 4)  # the checksum (a function of the payload) and reserved1
            at += 4
        if flags & 0x2000:
            self.renumber(at, 4, self.owner.gre_keys)
        self.keep = pos + size
        at = pos + size
        if proto in (0x0800, 0x86DD, 0x8847, 0x8848):
            self.ethertype(proto, at, end)
        elif proto == 0x6558:
            self.ether(at, end)
        elif proto == 0x88BE:
            self.enter()
            if flags & 0x1000:
                self.erspan2(at, end)
            else:
                self.ether(at, end)  # ERSPAN type I: no header of its own
        elif proto == 0x22EB:
            self.enter()
            self.erspan3(at, end)
        else:
            raise _Cut("bad_tunnel")

    def erspan2(self, pos: int, end: int) -> None:
        self.need(pos, 8, end)
        if self.buf[pos] >> 4 != 1:
            raise _Cut("bad_tunnel")
        self.buf[pos + 4] = 0  # reserved
        self.buf[pos + 5] &= 0x0F
        self.keep = pos + 8
        self.ether(pos + 8, end)

    def erspan3(self, pos: int, end: int) -> None:
        self.need(pos, 12, end)
        buf = self.buf
        if buf[pos] >> 4 != 2:
            raise _Cut("bad_tunnel")
        size = 12
        if buf[pos + 11] & 0x01:  # the platform-specific subheader: its platform id stays
            size = 20
            self.need(pos, size, end)
            buf[pos + 12] &= 0xFC
            self.zero(pos + 13, pos + 20)
        self.keep = pos + size
        if (buf[pos + 10] >> 2) & 0x1F:
            raise _Cut("bad_tunnel")  # a frame type other than Ethernet
        self.ether(pos + size, end)


def _checksum(data: bytes | bytearray) -> int:
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _zero_options(buf: bytearray, start: int, stop: int, kept: dict[int, tuple[int, ...]]) -> None:
    """IPv4 or TCP options: kinds and lengths stay, data is zeroed unless ``kept`` allows it.

    End of list zeroes the rest (padding); an option whose length does not fit is zeroed
    with everything after it, which reads as end of list.
    """
    at = start
    while at < stop:
        kind = buf[at]
        if kind == 0:
            buf[at + 1 : stop] = bytes(stop - at - 1)
            return
        if kind == 1:
            at += 1
            continue
        length = buf[at + 1] if at + 1 < stop else 0
        if length < 2 or at + length > stop:
            buf[at:stop] = bytes(stop - at)
            return
        if length not in kept.get(kind, ()):
            buf[at + 2 : at + length] = bytes(length - 2)
        at += length


def _zero_ipv6_options(buf: bytearray, start: int, stop: int) -> None:
    """IPv6 hop-by-hop / destination options: types and lengths stay, all option data is zeroed."""
    at = start
    while at < stop:
        if buf[at] == 0:  # Pad1
            at += 1
            continue
        if at + 2 > stop or at + 2 + buf[at + 1] > stop:
            buf[at:stop] = bytes(stop - at)  # reads as Pad1 to the end
            return
        length = buf[at + 1]
        buf[at + 2 : at + 2 + length] = bytes(length)
        at += 2 + length


def _zero_geneve_options(buf: bytearray, start: int, stop: int) -> None:
    """Geneve options: class, type and length stay, reserved bits and data are zeroed."""
    at = start
    while at + 4 <= stop:
        size = 4 + (buf[at + 3] & 0x1F) * 4
        if at + size > stop:
            break
        buf[at + 3] &= 0x1F
        buf[at + 4 : at + size] = bytes(size - 4)
        at += size
    if at != stop:  # options that do not tile their area: nothing of them is kept
        buf[start:stop] = bytes(stop - start)


# ---------------------------------------------------------------------------------------------
# files

_SHB, _BOM = 0x0A0D0D0A, 0x1A2B3C4D
_PCAP_MAGICS = {0xA1B2C3D4: (False, 6), 0xD4C3B2A1: (True, 6), 0xA1B23C4D: (False, 9), 0x4D3CB2A1: (True, 9)}
_DEFAULT_SNAPLEN = 262144
_USER_APPL = b"metagate strip"


@dataclass(frozen=True)
class _Interface:
    """What an output interface keeps of an input one: no name, description or other options."""

    linktype: int
    snaplen: int
    tsresol: int = 6  # pcapng's if_tsresol byte
    tsoffset: int = 0

    @property
    def per_second(self) -> int:
        return 1 << (self.tsresol & 0x7F) if self.tsresol & 0x80 else 10 ** min(self.tsresol, 24)


@dataclass(frozen=True, slots=True)
class _Record:
    interface: int  # index into the reader's interfaces
    ticks: int  # in the interface's resolution, before its tsoffset
    wirelen: int
    linktype: int
    frame: bytes


class _Reader:
    """Records of one file with what FileSource does not hand out: raw timestamps, interfaces."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.interfaces: list[_Interface] = []
        self.pcapng = False
        self._big = False
        try:
            with source.path.open("rb") as fh:
                head = fh.read(24)
        except OSError as exc:
            raise CaptureError(f"cannot read: {exc.strerror or exc}", path=source.path) from exc
        magic = struct.unpack_from("<I", head)[0]
        if magic in _PCAP_MAGICS:
            self._big, unit = _PCAP_MAGICS[magic]
            snaplen, network = struct.unpack_from(">II" if self._big else "<II", head, 16)
            self.interfaces.append(_Interface(network & 0x03FFFFFF, snaplen, unit))
        else:
            self.pcapng = True
        self._section: list[int] = []  # the current pcapng section's interface ids -> indexes
        self._next = 0  # where the block after the last packet block starts

    def records(self) -> Iterator[tuple[PacketBatch, list[_Record | None]]]:
        """Batch after batch, each packet as a record (None: it names no known interface)."""
        for batch in self.source.batches():
            mv = memoryview(batch.data.data)
            if self.pcapng:
                yield batch, [self._ng_record(batch, mv, i) for i in range(len(batch))]
            else:
                yield batch, [self._pcap_record(batch, mv, i) for i in range(len(batch))]
            if batch.last_of_origin and self.pcapng:
                self._gap(mv, self._next, len(mv))

    def _u32(self, mv: memoryview, at: int, big: bool | None = None) -> int:
        value: int = struct.unpack_from(">I" if (self._big if big is None else big) else "<I", mv, at)[0]
        return value

    def _pcap_record(self, batch: PacketBatch, mv: memoryview, i: int) -> _Record:
        at = int(batch.record_offset[i])
        sec, frac, _, wirelen = struct.unpack_from(">IIII" if self._big else "<IIII", mv, at)
        ticks = sec * self.interfaces[0].per_second + frac
        return _Record(0, ticks, wirelen, int(batch.linktype[i]), batch.packet(i))

    def _ng_record(self, batch: PacketBatch, mv: memoryview, i: int) -> _Record | None:
        at = int(batch.record_offset[i])
        if at != self._next:
            self._gap(mv, self._next, at)
        self._next = at + self._u32(mv, at + 4)
        kind = self._u32(mv, at)
        if kind == 3:  # a simple packet block: interface 0, no timestamp of its own
            ifid, wirelen = 0, self._u32(mv, at + 8)
        else:
            ifid = self._u32(mv, at + 8)
            if kind == 2:  # the obsolete packet block: a 16-bit interface id, then a drops count
                ifid = ifid >> 16 if self._big else ifid & 0xFFFF
            wirelen = self._u32(mv, at + 24)
        if ifid >= len(self._section):
            return None
        index = self._section[ifid]
        interface = self.interfaces[index]
        if interface.linktype != int(batch.linktype[i]):
            return None  # damage made this walk and the source's disagree: not trusted
        if kind == 3:
            ticks = (int(batch.ts_us[i]) - interface.tsoffset * 1_000_000) * interface.per_second // 1_000_000
        else:
            ticks = (self._u32(mv, at + 12) << 32) | self._u32(mv, at + 16)
        return _Record(index, ticks, wirelen, interface.linktype, batch.packet(i))

    def _gap(self, mv: memoryview, start: int, stop: int) -> None:
        """Section headers and interface descriptions between two packet blocks.

        Damage there was reported by the source; this walk steps over it 4 bytes at a time.
        """
        at = start
        while at + 12 <= stop:
            big = self._big
            if self._u32(mv, at, False) == _SHB:
                bom = self._u32(mv, at + 8, False)
                if bom not in (_BOM, 0x4D3C2B1A):
                    at += 4
                    continue
                big = bom != _BOM
            size = self._u32(mv, at + 4, big)
            if size < 12 or size % 4 or at + size > stop or self._u32(mv, at + size - 4, big) != size:
                at += 4
                continue
            kind = self._u32(mv, at, big)
            if kind == _SHB:
                self._big, self._section = big, []
            elif kind == 1:
                self._section.append(len(self.interfaces))
                self.interfaces.append(self._idb(mv, at, size))
            at += size

    def _idb(self, mv: memoryview, at: int, size: int) -> _Interface:
        if size < 20:
            return _Interface(65535, 0)  # as the source: a link type it cannot know
        order = ">" if self._big else "<"
        linktype, _, snaplen = struct.unpack_from(order + "HHI", mv, at + 8)
        tsresol, tsoffset = 6, 0
        pos, stop = at + 16, at + size - 4
        while pos + 4 <= stop:
            code, length = struct.unpack_from(order + "HH", mv, pos)
            if code == 0 or pos + 4 + length > stop:
                break
            if code == 9 and length >= 1:
                tsresol = mv[pos + 4]
            elif code == 14 and length >= 8:
                tsoffset = struct.unpack_from(order + "q", mv, pos + 4)[0]
            pos += 4 + (length + 3) // 4 * 4
        return _Interface(linktype, snaplen, tsresol, tsoffset)


def _pcap_unit(interfaces: list[_Interface]) -> int | None:
    """6 or 9 (micro- or nanoseconds) when a classic pcap holds these interfaces exactly, else None."""
    if len({i.linktype for i in interfaces}) != 1:
        return None
    for unit in (6, 9):
        if all(i.tsresol <= unit or i.tsresol == 0x80 for i in interfaces):
            return unit
    return None


class _Output:
    """The stripped records, spooled until the file's interfaces are all known, then written."""

    _SPOOL = struct.Struct("<IQII")

    def __init__(self) -> None:
        self.spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by write / close
        self.used: set[int] = set()

    def add(self, record: _Record, data: bytes) -> None:
        self.used.add(record.interface)
        wirelen = max(record.wirelen, len(data)) & 0xFFFFFFFF
        self.spool.write(self._SPOOL.pack(record.interface, record.ticks & (2**64 - 1), wirelen, len(data)) + data)

    def close(self) -> None:
        self.spool.close()

    def spooled(self) -> Iterator[tuple[int, int, int, bytes]]:
        self.spool.seek(0)
        while head := self.spool.read(self._SPOOL.size):
            interface, ticks, wirelen, caplen = self._SPOOL.unpack(head)
            yield interface, ticks, wirelen, self.spool.read(caplen)

    def write(self, fh: IO[bytes], interfaces: list[_Interface]) -> str:
        """Write the file to ``fh``; its format, ``pcap`` or ``pcapng``."""
        unit = _pcap_unit(interfaces)
        if unit is not None:
            self._pcap(fh, interfaces, unit)
            return "pcap"
        self._pcapng(fh, interfaces)
        return "pcapng"

    def _pcap(self, fh: IO[bytes], interfaces: list[_Interface], unit: int) -> None:
        snaplen = max((i.snaplen for i in interfaces), default=0) or _DEFAULT_SNAPLEN
        magic = 0xA1B2C3D4 if unit == 6 else 0xA1B23C4D
        fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, min(snaplen, 2**32 - 1), interfaces[0].linktype))
        scale = 10**unit
        for index, ticks, wirelen, data in self.spooled():
            interface = interfaces[index]
            per_second = interface.per_second
            total = ticks + interface.tsoffset * per_second
            sec = min(max(total // per_second, 0), 2**32 - 1)
            frac = total % per_second * scale // per_second
            fh.write(struct.pack("<IIII", sec, frac, len(data), wirelen) + data)

    def _pcapng(self, fh: IO[bytes], interfaces: list[_Interface]) -> None:
        fh.write(_block(_SHB, struct.pack("<IHHq", _BOM, 1, 0, -1) + _option(4, _USER_APPL) + _option(0, b"")))
        for interface in interfaces:
            options = b""
            if interface.tsresol != 6:
                options += _option(9, bytes([interface.tsresol]))
            if interface.tsoffset:
                options += _option(14, struct.pack("<q", interface.tsoffset))
            if options:
                options += _option(0, b"")
            body = struct.pack("<HHI", interface.linktype, 0, min(interface.snaplen, 2**32 - 1))
            fh.write(_block(1, body + options))
        for index, ticks, wirelen, data in self.spooled():
            body = struct.pack("<IIIII", index, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wirelen)
            fh.write(_block(6, body + data))


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


@dataclass(frozen=True)
class StripSummary:
    """What one :func:`strip_capture` run did (for the audit ledger and the operator)."""

    source: str
    output: str
    output_format: str  # "pcap" or "pcapng"
    packets_read: int
    packets_written: int
    dropped: dict[str, int]  # reason -> packets not written at all
    cut_short: dict[str, int]  # reason -> packets written with headers cut where not understood
    bytes_read: int  # captured bytes of every packet read
    bytes_written: int  # captured bytes of every packet written (record headers not counted)
    addresses: int  # distinct IP addresses rewritten
    macs: int  # distinct MAC addresses rewritten
    teids: int  # distinct non-zero GTP-U TEIDs renumbered
    problems: tuple[CaptureError, ...] = field(default=())  # damage skipped (strict=False only)

    @property
    def packets_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def payload_bytes_removed(self) -> int:
        """Captured bytes not written: payload, unknown headers and dropped packets."""
        return self.bytes_read - self.bytes_written

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (problems as their messages)."""
        return {
            "source": self.source,
            "output": self.output,
            "output_format": self.output_format,
            "packets_read": self.packets_read,
            "packets_written": self.packets_written,
            "packets_dropped": self.packets_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "cut_short": dict(sorted(self.cut_short.items())),
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "payload_bytes_removed": self.payload_bytes_removed,
            "addresses": self.addresses,
            "macs": self.macs,
            "teids": self.teids,
            "problems": [str(p) for p in self.problems],
        }


def strip_capture(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    rewrite_address: AddressRewriter,
    strict: bool = True,
) -> StripSummary:
    """Write the headers-only, rewritten copy of capture ``src`` to ``dst``.

    ``rewrite_address`` maps an address's text to its stand-in (the policy's pseudonymizer);
    it is asked once per distinct address. With ``strict`` (the default) any damage in
    ``src`` raises CaptureError; without it damaged stretches are skipped and listed in the
    summary's ``problems``. ``dst`` is written as ``dst.partial`` and renamed when complete;
    an existing ``dst`` that is no regular file (a FIFO, /dev/null) is written directly.
    """
    src_path, dst_path = Path(src), Path(dst)
    if _same_file(src_path, dst_path):
        raise ConfigError("the output would overwrite the input capture", field="output")
    source = FileSource(src_path)
    reader = _Reader(source)
    stripper = PacketStripper(rewrite_address)
    output = _Output()
    read = written = bytes_read = bytes_written = 0
    dropped: Counter[str] = Counter()
    cut_short: Counter[str] = Counter()
    try:
        for _, records in reader.records():
            if strict and source.problems:
                raise source.problems[0]
            for record in records:
                read += 1
                if record is None:
                    dropped["unknown_interface"] += 1
                    continue
                bytes_read += len(record.frame)
                result = stripper.strip(record.linktype, record.frame)
                if result.data is None:
                    dropped[result.reason or "truncated"] += 1
                    continue
                if result.reason is not None:
                    cut_short[result.reason] += 1
                output.add(record, result.data)
                written += 1
                bytes_written += len(result.data)
        if strict and source.problems:
            raise source.problems[0]
        fmt = _write(dst_path, output, reader.interfaces)
    finally:
        output.close()
    return StripSummary(
        source=str(src_path),
        output=str(dst_path),
        output_format=fmt,
        packets_read=read,
        packets_written=written,
        dropped=dict(dropped),
        cut_short=dict(cut_short),
        bytes_read=bytes_read,
        bytes_written=bytes_written,
        addresses=stripper.addresses,
        macs=len(stripper.macs),
        teids=len(stripper.teids),
        problems=tuple(source.problems),
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _write(dst: Path, output: _Output, interfaces: list[_Interface]) -> str:
    """The output file, complete or not at all; its format."""
    try:
        direct = dst.exists() and not stat.S_ISREG(dst.stat().st_mode)
        target = dst if direct else dst.with_name(dst.name + ".partial")
        with target.open("wb") as fh:
            try:
                fmt = output.write(fh, interfaces)
            except BaseException:
                if not direct:
                    fh.close()
                    with contextlib.suppress(OSError):
                        target.unlink()
                raise
        if not direct:
            os.replace(target, dst)
    except OSError as exc:
        raise CaptureError(f"cannot write the stripped capture: {exc.strerror or exc}", path=dst) from exc
    return fmt
