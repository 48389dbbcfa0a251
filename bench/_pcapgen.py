"""Packets as numpy arrays, written to a classic pcap by stamping header templates in bulk.

The scenario generator describes flows column-wise (_traffic.py); this module turns them into
packets and bytes. Like make_workload.py it never builds a packet object: a dozen header
templates (Ethernet, optional GTP-U over IPv4/UDP, IPv4 or IPv6, TCP / UDP / ICMP) are made
once, and each chunk of packets is laid out in one buffer and stamped field by field.
Checksums stay zero and payload bytes are zeros: nothing in metagate reads them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]

TCP, UDP, ICMP = 0, 1, 2
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CHUNK = 1 << 18
MIN_FRAME = 60
_MAC = bytes.fromhex("020000000001020000000002")


@dataclass
class Packets:
    """One row a packet; addresses as (hi, lo) 64-bit halves (IPv4 in ``lo``)."""

    ts: I64  # microseconds since the epoch
    v6: Bool
    l4: I64
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: I64  # ICMP: the echo identifier
    dport: I64
    flags: I64  # TCP flags, or the ICMP type
    payload: I64
    gtp: Bool
    outer_src: I64  # GTP-U tunnel endpoints (IPv4)
    outer_dst: I64
    teid: I64

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def concat(cls, parts: list[Packets]) -> Packets:
        parts = [p for p in parts if len(p)]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass(frozen=True)
class _Template:
    header: bytes
    v6: bool
    l4: int
    ip: int  # offset of the inner IP header
    tp: int  # offset of the transport header
    gtp: bool


def _templates() -> list[_Template]:
    out = []
    for gtp in (False, True):
        for v6 in (False, True):
            for l4 in (TCP, UDP, ICMP):
                proto = (6, 17, 58 if v6 else 1)[l4]
                if v6:
                    ip_header = struct.pack("!IHBB16s16s", 0x60000000, 0, proto, 64, bytes(16), bytes(16))
                else:
                    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, proto, 0, bytes(4), bytes(4))
                transport = (
                    struct.pack("!HHIIBBHHH", 0, 0, 0, 0, 0x50, 0, 65535, 0, 0)
                    if l4 == TCP
                    else struct.pack("!HHHH", 0, 0, 0, 0)
                )
                link = _MAC + struct.pack("!H", 0x0800 if gtp or not v6 else 0x86DD)
                if gtp:
                    outer = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, 17, 0, bytes(4), bytes(4))
                    link += outer + struct.pack("!HHHH", 2152, 2152, 0, 0) + struct.pack("!BBHI", 0x30, 0xFF, 0, 0)
                ip = len(link)
                tp = ip + len(ip_header)
                out.append(_Template(link + ip_header + transport, v6, l4, ip, tp, gtp))
    return out


TEMPLATES = _templates()
_HEADER_LEN = np.array([len(t.header) for t in TEMPLATES], np.int64)
_IP_AT = np.array([t.ip for t in TEMPLATES], np.int64)


def _template_of(p: Packets) -> I64:
    return (p.gtp.astype(np.int64) * 6) + (p.v6.astype(np.int64) * 3) + p.l4


def _put(buf: npt.NDArray[np.uint8], pos: I64, value: npt.ArrayLike, width: int) -> None:
    value = np.asarray(value).astype(np.uint64)
    for k in range(width):
        buf[pos + k] = ((value >> np.uint64(8 * (width - 1 - k))) & np.uint64(0xFF)).astype(np.uint8)


def _stamp(buf: npt.NDArray[np.uint8], t: _Template, frame: I64, p: Packets, rows: I64, ip_len: I64) -> None:
    ip, tp = frame + t.ip, frame + t.tp
    if t.gtp:
        outer_len = ip_len + 36
        _put(buf, frame + 16, outer_len, 2)
        _put(buf, frame + 26, p.outer_src[rows], 4)
        _put(buf, frame + 30, p.outer_dst[rows], 4)
        _put(buf, frame + 38, outer_len - 20, 2)
        _put(buf, frame + 44, ip_len, 2)
        _put(buf, frame + 46, p.teid[rows], 4)
    if t.v6:
        _put(buf, ip + 4, ip_len - 40, 2)
        _put(buf, ip + 8, p.src_hi[rows], 8)
        _put(buf, ip + 16, p.src_lo[rows], 8)
        _put(buf, ip + 24, p.dst_hi[rows], 8)
        _put(buf, ip + 32, p.dst_lo[rows], 8)
    else:
        _put(buf, ip + 2, ip_len, 2)
        _put(buf, ip + 4, rows & 0xFFFF, 2)
        _put(buf, ip + 12, p.src_lo[rows], 4)
        _put(buf, ip + 16, p.dst_lo[rows], 4)
    if t.l4 == ICMP:
        buf[tp] = p.flags[rows].astype(np.uint8)
        _put(buf, tp + 4, p.sport[rows], 2)
        _put(buf, tp + 6, p.dport[rows], 2)
        return
    _put(buf, tp, p.sport[rows], 2)
    _put(buf, tp + 2, p.dport[rows], 2)
    if t.l4 == UDP:
        _put(buf, tp + 4, ip_len - (t.tp - t.ip), 2)
        return
    _put(buf, tp + 4, np.full(len(rows), 1000), 4)
    _put(buf, tp + 8, np.where(p.flags[rows] & ACK, 2000, 0), 4)
    buf[tp + 13] = p.flags[rows].astype(np.uint8)


def _write_chunk(out: BinaryIO, p: Packets, sel: I64) -> None:
    template = _template_of(p)[sel]
    ip_len = _HEADER_LEN[template] - _IP_AT[template] + p.payload[sel]
    frame_len = np.maximum(_HEADER_LEN[template] + p.payload[sel], MIN_FRAME)
    record = np.cumsum(frame_len + 16) - (frame_len + 16)
    buf = np.zeros(int(record[-1] + 16 + frame_len[-1]), dtype=np.uint8)
    ts = p.ts[sel]
    header = np.stack([ts // 1_000_000, ts % 1_000_000, frame_len, frame_len], axis=1).astype("<u4")
    buf[record[:, None] + np.arange(16)] = header.view(np.uint8).reshape(-1, 16)
    frame = record + 16
    for number in np.unique(template):
        t = TEMPLATES[int(number)]
        at = np.flatnonzero(template == number)
        head = np.frombuffer(t.header, dtype=np.uint8)
        buf[frame[at][:, None] + np.arange(len(head))] = head
        _stamp(buf, t, frame[at], p, sel[at], ip_len[at])
    out.write(buf.data)


def write_pcap(path: Path, packets: Packets) -> int:
    """All packets in time order to ``path`` (classic pcap, Ethernet, microseconds); the byte count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    order = np.argsort(packets.ts, kind="stable")
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for begin in range(0, len(order), CHUNK):
            _write_chunk(out, packets, order[begin : begin + CHUNK])
    return path.stat().st_size
