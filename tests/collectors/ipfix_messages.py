"""Hand-built NetFlow v5 / v9 and IPFIX messages for the decoder tests (struct, nothing else)."""

from __future__ import annotations

import ipaddress
import struct

REVERSE = 29305


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def ipfix(sets: list[bytes], *, seq: int = 0, domain: int = 1, export_time: int = 1_714_564_800) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_time, seq, domain) + body


def a_set(set_id: int, body: bytes) -> bytes:
    return struct.pack("!HH", set_id, 4 + len(body)) + body


def template(template_id: int, fields: list[tuple[int, int] | tuple[int, int, int]], *, v9: bool = False) -> bytes:
    """A template record; a field is (element, length) or (element, length, enterprise)."""
    out = [struct.pack("!HH", template_id, len(fields))]
    for f in fields:
        if len(f) == 3:
            assert not v9
            out.append(struct.pack("!HHI", f[0] | 0x8000, f[1], f[2]))
        else:
            out.append(struct.pack("!HH", f[0], f[1]))
    return b"".join(out)


def options_template(template_id: int, scope: list[tuple[int, int]], fields: list[tuple[int, int]]) -> bytes:
    out = [struct.pack("!HHH", template_id, len(scope) + len(fields), len(scope))]
    out += [struct.pack("!HH", e, n) for e, n in scope + fields]
    return b"".join(out)


def v9(flowsets: list[bytes], *, seq: int = 0, source: int = 0, uptime: int = 100_000,
       secs: int = 1_714_564_800) -> bytes:  # fmt: skip
    return struct.pack("!HHIIII", 9, len(flowsets), uptime, secs, seq, source) + b"".join(flowsets)


def v5(records: list[dict[str, int | bytes]], *, seq: int = 0, uptime: int = 100_000,
       secs: int = 1_714_564_800) -> bytes:  # fmt: skip
    header = struct.pack("!HHIIIIBBH", 5, len(records), uptime, secs, 0, seq, 0, 0, 0)
    body = b""
    for r in records:
        body += struct.pack(
            "!4s4s4sHHIIIIHHBBBBHHBBH",
            r["src"], r["dst"], bytes(4), 0, 0, r["pkts"], r["bytes"], r["first"], r["last"],
            r["sport"], r["dport"], 0, r.get("flags", 0), r["proto"], 0, 0, 0, 0, 0, 0,
        )  # fmt: skip
    return header + body


# A plain IPv4 biflow template and one record of it.
BIFLOW4 = [
    (152, 8), (153, 8), (8, 4), (12, 4), (7, 2), (11, 2), (4, 1),
    (2, 8), (1, 8), (2, 8, REVERSE), (1, 8, REVERSE), (6, 2), (6, 2, REVERSE), (136, 1),
]  # fmt: skip


def biflow4(src: str, dst: str, sport: int, dport: int, proto: int, *, start_ms: int = 1_714_564_800_000,
            pkts: int = 3, octets: int = 180, rpkts: int = 2, roctets: int = 120, flags: int = 0x1B,
            rflags: int = 0x1B, reason: int = 3) -> bytes:  # fmt: skip
    return struct.pack(
        "!QQ4s4sHHBQQQQHHB", start_ms, start_ms + 50, ip4(src), ip4(dst), sport, dport, proto,
        pkts, octets, rpkts, roctets, flags, rflags, reason,
    )  # fmt: skip
