"""The information elements a flow record is read from, and the slots they fill.

IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) number the common elements alike, so one table
serves both. A *slot* is where a value goes before it becomes a FlowRecord column
(_ipfix_records.py); an element not in the table is skipped by its length. RFC 5103's
reverse elements are the same numbers under private enterprise number 29305; only the
counters and TCP flags are read from them (a biflow's reverse addresses are the forward
ones swapped).
"""

from __future__ import annotations

from enum import Enum

REVERSE_PEN = 29305
VARIABLE = 0xFFFF  # IPFIX field length meaning "variable", RFC 7011 section 7


class Kind(Enum):
    """How an element's bytes become a number."""

    UNSIGNED = "unsigned"  # big-endian, 1 to 8 bytes (reduced-size encoding, RFC 7011 6.2)
    IPV4 = "ipv4"  # exactly 4 bytes
    IPV6 = "ipv6"  # exactly 16 bytes, kept as two 64-bit halves
    NTP = "ntp"  # 8 bytes: seconds since 1900 and a binary fraction (dateTimeMicro/Nanoseconds)


# element id -> (slot, kind), enterprise 0
FORWARD: dict[int, tuple[str, Kind]] = {
    1: ("bytes", Kind.UNSIGNED),  # octetDeltaCount (v9 IN_BYTES): IP bytes, headers included
    2: ("pkts", Kind.UNSIGNED),  # packetDeltaCount (v9 IN_PKTS)
    85: ("bytes_total", Kind.UNSIGNED),  # octetTotalCount
    86: ("pkts_total", Kind.UNSIGNED),  # packetTotalCount
    4: ("proto", Kind.UNSIGNED),  # protocolIdentifier
    6: ("flags", Kind.UNSIGNED),  # tcpControlBits (1 byte in v9, 2 in IPFIX)
    7: ("sport", Kind.UNSIGNED),  # sourceTransportPort
    11: ("dport", Kind.UNSIGNED),  # destinationTransportPort
    8: ("src4", Kind.IPV4),  # sourceIPv4Address
    12: ("dst4", Kind.IPV4),  # destinationIPv4Address
    27: ("src6", Kind.IPV6),  # sourceIPv6Address
    28: ("dst6", Kind.IPV6),  # destinationIPv6Address
    21: ("end_up", Kind.UNSIGNED),  # flowEndSysUpTime (v9 LAST_SWITCHED), ms
    22: ("start_up", Kind.UNSIGNED),  # flowStartSysUpTime (v9 FIRST_SWITCHED), ms
    32: ("icmp4", Kind.UNSIGNED),  # icmpTypeCodeIPv4: type << 8 | code
    139: ("icmp6", Kind.UNSIGNED),  # icmpTypeCodeIPv6
    176: ("icmp_type4", Kind.UNSIGNED),
    177: ("icmp_code4", Kind.UNSIGNED),
    178: ("icmp_type6", Kind.UNSIGNED),
    179: ("icmp_code6", Kind.UNSIGNED),
    58: ("vlan", Kind.UNSIGNED),  # vlanId
    243: ("vlan", Kind.UNSIGNED),  # dot1qVlanId
    245: ("inner_vlan", Kind.UNSIGNED),  # dot1qCustomerVlanId
    70: ("mpls0", Kind.UNSIGNED),  # mplsTopLabelStackSection: label << 4 | exp << 1 | bottom
    71: ("mpls1", Kind.UNSIGNED),
    72: ("mpls2", Kind.UNSIGNED),
    73: ("mpls3", Kind.UNSIGNED),
    136: ("end_reason", Kind.UNSIGNED),  # flowEndReason
    150: ("start_s", Kind.UNSIGNED),  # flowStartSeconds
    151: ("end_s", Kind.UNSIGNED),
    152: ("start_ms", Kind.UNSIGNED),  # flowStartMilliseconds
    153: ("end_ms", Kind.UNSIGNED),
    154: ("start_ntp", Kind.NTP),  # flowStartMicroseconds
    155: ("end_ntp", Kind.NTP),
    156: ("start_ntp", Kind.NTP),  # flowStartNanoseconds: same encoding, finer fraction
    157: ("end_ntp", Kind.NTP),
    158: ("start_delta_us", Kind.UNSIGNED),  # flowStartDeltaMicroseconds, before the export time
    159: ("end_delta_us", Kind.UNSIGNED),
    160: ("init_ms", Kind.UNSIGNED),  # systemInitTimeMilliseconds (an options record's)
}

REVERSE: dict[int, tuple[str, Kind]] = {
    1: ("rbytes", Kind.UNSIGNED),
    2: ("rpkts", Kind.UNSIGNED),
    85: ("rbytes_total", Kind.UNSIGNED),
    86: ("rpkts_total", Kind.UNSIGNED),
    6: ("rflags", Kind.UNSIGNED),
}

# NetFlow v5's fixed 48-byte record, as (element id, length); 0 marks padding and the
# fields we do not read (next hop, interfaces, AS numbers, masks keep their own ids).
V5_RECORD: tuple[tuple[int, int], ...] = (
    (8, 4), (12, 4), (15, 4), (10, 2), (14, 2), (2, 4), (1, 4), (22, 4), (21, 4),
    (7, 2), (11, 2), (0, 1), (6, 1), (4, 1), (5, 1), (16, 2), (17, 2), (9, 1), (13, 1), (0, 2),
)  # fmt: skip
V5_HEADER, V5_RECORD_LEN, V5_MAX_COUNT = 24, 48, 30


def lookup(element: int, pen: int) -> tuple[str, Kind] | None:
    """The slot an element fills, or None for one we skip."""
    if pen == 0:
        return FORWARD.get(element)
    if pen == REVERSE_PEN:
        return REVERSE.get(element)
    return None


def fits(kind: Kind, length: int) -> bool:
    """Whether an element of ``kind`` can be read from ``length`` bytes."""
    if kind is Kind.UNSIGNED:
        return 1 <= length <= 8
    if kind is Kind.IPV4:
        return length == 4
    if kind is Kind.IPV6:
        return length == 16
    return length == 8
