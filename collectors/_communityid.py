"""Community ID v1 (the Corelight specification), and ICMP's type/code-to-port mapping.

The ICMP mapping is shared by every engine: it decides which ICMP packets form one flow.
"""

from __future__ import annotations

import base64
import hashlib
import struct

ICMP, ICMP6, TCP, UDP, SCTP = 1, 58, 6, 17, 132
PORT_PROTOS = frozenset({ICMP, TCP, UDP, ICMP6, SCTP})

# request <-> reply types that pair up into one flow
ICMP4_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_COUNTERPART = {
    128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133,
    135: 136, 136: 135, 139: 140, 140: 139, 144: 145, 145: 144,
}


def icmp_ports(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """(source port, destination port, one way) for an ICMP message, as Zeek maps it."""
    table = ICMP4_COUNTERPART if proto == ICMP else ICMP6_COUNTERPART
    counterpart = table.get(icmp_type)
    if counterpart is None:
        return icmp_type, icmp_code, True
    return icmp_type, counterpart, False


def is_one_way_icmp(proto: int, sport: int) -> bool:
    """Whether an ICMP flow's (mapped) source port is a type with no counterpart."""
    if proto == ICMP:
        return sport not in ICMP4_COUNTERPART
    if proto == ICMP6:
        return sport not in ICMP6_COUNTERPART
    return False


def community_id(proto: int, src: bytes, dst: bytes, sport: int, dport: int, seed: int = 0) -> str:
    """The Community ID of a flow seen from ``src`` to ``dst`` (ports already ICMP-mapped)."""
    one_way = is_one_way_icmp(proto, sport)
    if not one_way and (src > dst or (src == dst and sport > dport)):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", seed) + src + dst + struct.pack("!BB", proto, 0)
    if proto in PORT_PROTOS:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
