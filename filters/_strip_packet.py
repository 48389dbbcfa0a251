"""One packet at a time: :class:`PacketStripper`, and the identifier stand-ins it keeps between packets.

The headers are walked by ``filters._strip_walk`` (and ``filters._strip_tunnels``); every
identifier the walk meets is rewritten here, so a stand-in stays the same across packets:

- every IPv4 / IPv6 address in every IP header (outer and inner, ARP, IPv6 routing headers,
  an ICMP redirect's gateway, Teredo's origin indication) goes through the caller's
  ``rewrite_address``, asked once per distinct address;
- MAC addresses become locally administered 02:00:00:00:00:01, ...:02, ... in order of
  appearance (03:... for group addresses; broadcast and all-zero stay);
- GTP-U TEIDs, GRE keys and PPPoE session ids are renumbered 1, 2, ... per distinct value
  (0 stays 0).

IMSI, MSISDN and the like live in GTP-C and payloads, which are never kept. A rewritten
address that is not an address of the same version raises :class:`policies.GateViolation`
(its message names no address).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from filters._strip_tunnels import _TunnelWalk
from filters._strip_walk import _Cut
from policies import GateViolation, MetagateError

AddressRewriter = Callable[[str], str]

_BROADCAST, _NO_MAC = b"\xff" * 6, b"\0" * 6


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
        walk = _TunnelWalk(self, bytearray(frame))
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
