"""Capture files for the stripper: records with their interfaces in, pcap or pcapng out.

:class:`_Reader` walks a file beside :class:`collectors.FileSource`, taking what the source
does not hand out: each record's raw timestamp and the interfaces (link type, snaplen,
timestamp resolution and offset) of every pcapng section. :class:`_Output` spools the
stripped records until all interfaces are known, then writes a classic pcap when one link
type and a timestamp resolution a classic pcap can hold allow it, else pcapng.

File metadata: a pcapng output has one section header (naming metagate as the writing
application) and, per input interface, its link type, snaplen, timestamp resolution and
offset. Everything else (interface names and descriptions, host and OS strings, comments,
packet flags and hashes, name resolution, decryption secrets, custom blocks) is dropped:
a name record maps original addresses to names, a packet hash is a function of the payload.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from collectors import FileSource, PacketBatch
from policies import CaptureError

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
