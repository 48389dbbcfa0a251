"""Scapy layer definitions the decoder needs that scapy lacks, and one-layer dissection.

Importing this module imports scapy (about a second): only the scapy engine does, lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from scapy.fields import BitField, ByteField, IntField, ShortField, StrLenField, X3BytesField
from scapy.packet import Packet, Raw


class DecodeProblem(Exception):
    """A packet (or the rest of it) cannot be decoded; ``kind`` is a contract problem kind."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Context:
    """Where a walk is: the tags and labels met so far and the enclosing observation."""

    vlan: int | None = None
    inner_vlan: int | None = None
    mpls: tuple[int, ...] = ()
    tunnel: tuple[str, ...] = ()
    parent: int | None = None


class GtpMandatory(Packet):
    """The 8 bytes every GTPv1 header has; scapy's GTP_U_Header needs 12 once a flag is set."""

    name = "GTPv1 mandatory header"
    fields_desc: ClassVar[list[Any]] = [
        BitField("version", 1, 3),
        BitField("PT", 1, 1),
        BitField("reserved", 0, 1),
        BitField("E", 0, 1),
        BitField("S", 0, 1),
        BitField("PN", 0, 1),
        ByteField("gtp_type", 255),
        ShortField("length", 0),
        IntField("teid", 0),
    ]


class VxlanHeader(Packet):
    """VXLAN as RFC 7348 lays it out. scapy's VXLAN reads G and P flag layouts that cannot
    both hold (a header with both flags set does not dissect); only I and the VNI matter here.
    """

    name = "VXLAN"
    fields_desc: ClassVar[list[Any]] = [
        ByteField("flags", 0x08),
        X3BytesField("reserved1", 0),
        X3BytesField("vni", 0),
        ByteField("reserved2", 0),
    ]


class IcmpHeader(Packet):
    """The 4 bytes every ICMP and ICMPv6 message starts with. scapy's ICMP reads further fields
    by type (20 bytes for a timestamp), but the contract's minimum is 8 bytes for any type.
    """

    name = "ICMP header"
    fields_desc: ClassVar[list[Any]] = [ByteField("type", 8), ByteField("code", 0), ShortField("chksum", 0)]


class PppProtocol(Packet):
    """PPPoE's PPP protocol field: always two bytes. scapy's PPP also reads a compressed one-byte
    field (an odd first byte) and an HDLC address and control (0xff first), which PPPoE does not carry.
    """

    name = "PPP protocol"
    fields_desc: ClassVar[list[Any]] = [ShortField("proto", 0x0021)]


class LoopNetworkOrder(Packet):
    """DLT_LOOP (108) header: the address family in network byte order."""

    name = "LOOP"
    fields_desc: ClassVar[list[Any]] = [IntField("family", 0)]


class IPv6GenericExtHdr(Packet):
    """The common layout of IPv6 extension headers scapy has no class for (135, 139, 140)."""

    name = "IPv6 extension header"
    fields_desc: ClassVar[list[Any]] = [
        ByteField("nh", 59),
        ByteField("len", 0),
        StrLenField("data", b"", length_from=lambda pkt: pkt.len * 8 + 6),
    ]


class GtpExtension(Packet):
    """A GTP-U extension header: length in 4-byte units, content, next extension type."""

    name = "GTP-U extension header"
    fields_desc: ClassVar[list[Any]] = [
        ByteField("length", 1),
        StrLenField("content", b"", length_from=lambda pkt: max(0, pkt.length * 4 - 2)),
        ByteField("next_ex", 0),
    ]


class TeredoAuth(Packet):
    """The fixed part of a Teredo authentication indicator (RFC 4380, 5.1.1).

    Client id, authentication value, an 8-byte nonce and a confirmation byte follow.
    """

    name = "Teredo authentication"
    fields_desc: ClassVar[list[Any]] = [ShortField("indicator", 1), ByteField("id_len", 0), ByteField("au_len", 0)]


class TeredoOrigin(Packet):
    """Teredo origin indication (RFC 4380, 5.1.1)."""

    name = "Teredo origin indication"
    fields_desc: ClassVar[list[Any]] = [ShortField("indicator", 0), ShortField("port", 0), IntField("addr", 0)]


def dissect(cls: Any, data: bytes, kind: str = "truncated") -> tuple[Any, bytes]:
    """One layer of ``data`` as ``cls`` and the bytes after it (within the layer's own length).

    Dissection stops after this layer, so scapy's port and type guesses never apply; any
    scapy exception becomes a :class:`DecodeProblem` of ``kind``.
    """
    try:
        layer = cls(data, stop_dissection_after=cls)
    except Exception as exc:
        raise DecodeProblem(kind) from exc
    rest = layer.payload
    return layer, bytes(rest.load) if type(rest) is Raw else b""
