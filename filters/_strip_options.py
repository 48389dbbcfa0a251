"""Option areas and checksums of the headers a stripped packet keeps.

An option area keeps its layout (kinds and lengths), so the header still parses, while the
option data goes: it is free-form and may carry anything. An option whose length does not
fit is zeroed with everything after it. The IPv4 header checksum is recomputed over the
rewritten header; the checksums that are functions of the payload are zeroed by the walk.
"""

from __future__ import annotations

import struct


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
