"""pcap and pcapng files as PacketBatch views into one memory map.

The record walk is the hot path of the collector, so it runs in numba kernels that fill the
per-packet index arrays; Python only handles headers, pcapng's rare non-packet blocks and
damage. Damage never stops the read early when the file can be resynchronised: the packets
before it are kept, the damage is recorded in ``problems`` as a CaptureError with its byte
offset, and the walk goes on at the next plausible record.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from collectors._fastkernels import kernel, module
from collectors._packets import PacketBatch
from policies import CaptureError, ConfigError, NotACaptureError

if module() is None:  # only the JIT compiles the walks here; the build has them, and numba takes 0.3 s to import
    from collectors._prefetch import prefetch_byte

DEFAULT_BATCH = 262144
MAX_CAPLEN = 262144
"""A record longer than this (256 KiB) is damage, whatever the header's snaplen says."""

_PCAP_MAGICS = {  # first four bytes as little-endian u32 -> (big endian, nanoseconds)
    0xA1B2C3D4: (False, False),
    0xD4C3B2A1: (True, False),
    0xA1B23C4D: (False, True),
    0x4D3CB2A1: (True, True),
}
_SHB = 0x0A0D0D0A
_BOM = 0x1A2B3C4D

# kernel outcomes
_DONE, _FULL, _ABSURD, _PAST_END, _SHORT_HEADER, _OTHER_BLOCK, _BAD_LENGTH, _BAD_IFACE, _BAD_CAPLEN = range(9)

_I32_MAX = 2147483647
# The walk is a chain of dependent reads (a record's length says where the next one is), so
# each header would wait for memory in turn; asking for the bytes this far ahead first lets
# those reads overlap (the walk runs about 4x faster).
_PREFETCH_AHEAD = 8192
_CACHE_LINE = 64
_DAY = 86400
_UNKNOWN_LINK = 65535
_MAX_PROBLEMS = 1000

_Bytes = npt.NDArray[np.uint8]
_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_IfArrays = tuple[_I32, _I64, _I64, _I64, _I64]


@kernel
def _u32(buf: _Bytes, i: int, big: bool) -> int:
    a, b, c, d = np.int64(buf[i]), np.int64(buf[i + 1]), np.int64(buf[i + 2]), np.int64(buf[i + 3])
    if big:
        return int((a << 24) | (b << 16) | (c << 8) | d)
    return int(a | (b << 8) | (c << 16) | (d << 24))


@kernel
def _u16(buf: _Bytes, i: int, big: bool) -> int:
    a, b = np.int64(buf[i]), np.int64(buf[i + 1])
    if big:
        return int((a << 8) | b)
    return int(a | (b << 8))


@kernel
def _prefetch_until(buf: _Bytes, ahead: int, upto: int) -> int:
    """Prefetch each cache line from ``ahead`` up to ``upto``; returns the new frontier."""
    while ahead < upto:
        prefetch_byte(buf, ahead)  # type: ignore[call-arg]
        ahead += _CACHE_LINE
    return ahead


@kernel
def _pcap_walk(
    buf: _Bytes,
    pos: int,
    end: int,
    big: bool,
    nano: bool,
    limit: int,
    out_off: _I64,
    out_cap: _I32,
    out_wire: _I32,
    out_ts: _I64,
    out_rec: _I64,
) -> tuple[int, int, int]:
    """Index classic pcap records from ``pos`` until the arrays are full, the end, or damage."""
    n = 0
    room = out_off.shape[0]
    ahead = pos
    while n < room:
        ahead = _prefetch_until(buf, ahead, min(pos + _PREFETCH_AHEAD, end))
        if pos == end:
            return n, pos, _DONE
        if pos + 16 > end:
            return n, pos, _SHORT_HEADER
        caplen = _u32(buf, pos + 8, big)
        if caplen > limit:
            return n, pos, _ABSURD
        if pos + 16 + caplen > end:
            return n, pos, _PAST_END
        frac = _u32(buf, pos + 4, big)
        if nano:
            frac = frac // 1000
        out_off[n] = pos + 16
        out_cap[n] = caplen
        out_wire[n] = min(_u32(buf, pos + 12, big), _I32_MAX)
        out_ts[n] = _u32(buf, pos, big) * 1000000 + frac
        out_rec[n] = pos
        n += 1
        pos += 16 + caplen
    return n, pos, _FULL


@kernel
def _pcap_plausible(
    buf: _Bytes, p: int, end: int, big: bool, frac_max: int, limit: int, prev_sec: int, have_prev: bool
) -> bool:
    if p + 16 > end:
        return False
    sec = _u32(buf, p, big)
    caplen = _u32(buf, p + 8, big)
    wirelen = _u32(buf, p + 12, big)
    if _u32(buf, p + 4, big) >= frac_max or caplen == 0 or caplen > limit or caplen > wirelen:
        return False
    if wirelen > (1 << 24) or p + 16 + caplen > end:
        return False
    return not (have_prev and abs(sec - prev_sec) > _DAY)


@kernel
def _pcap_resync(
    buf: _Bytes, start: int, end: int, big: bool, nano: bool, limit: int, prev_sec: int, have_prev: bool
) -> int:
    """The next offset holding a plausible record followed by another one (or the end), or -1."""
    frac_max = 1000000000 if nano else 1000000
    p = start
    while p + 16 <= end:
        if _pcap_plausible(buf, p, end, big, frac_max, limit, prev_sec, have_prev):
            nxt = p + 16 + _u32(buf, p + 8, big)
            if nxt == end or _pcap_plausible(buf, nxt, end, big, frac_max, limit, _u32(buf, p, big), True):
                return p
        p += 1
    return -1


@kernel
def _ng_ts(raw: int, shift: int, mul: int, div: int, off: int) -> int:
    if shift >= 0:
        secs = raw >> shift
        frac = raw & int((np.int64(1) << shift) - 1)
        k = shift
        if k > 40:
            frac = frac >> (k - 40)
            k = 40
        return secs * 1000000 + ((frac * 1000000) >> k) + off
    return raw * mul // div + off


@kernel
def _ng_walk(
    buf: _Bytes,
    pos: int,
    end: int,
    big: bool,
    if_link: _I32,
    if_shift: _I64,
    if_mul: _I64,
    if_div: _I64,
    if_off: _I64,
    snap0: int,
    prev_ts: int,
    out_off: _I64,
    out_cap: _I32,
    out_wire: _I32,
    out_ts: _I64,
    out_link: _I32,
    out_rec: _I64,
) -> tuple[int, int, int, int]:
    """Index runs of pcapng packet blocks (EPB, SPB, obsolete PB); stop at any other block."""
    n = 0
    room = out_off.shape[0]
    n_if = if_link.shape[0]
    ahead = pos
    while n < room:
        ahead = _prefetch_until(buf, ahead, min(pos + _PREFETCH_AHEAD, end))
        if pos == end:
            return n, pos, _DONE, prev_ts
        if pos + 12 > end:
            return n, pos, _BAD_LENGTH, prev_ts
        btype = _u32(buf, pos, big)
        if btype != 6 and btype != 3 and btype != 2:
            return n, pos, _OTHER_BLOCK, prev_ts
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or (blen & 3) != 0 or pos + blen > end or _u32(buf, pos + blen - 4, big) != blen:
            return n, pos, _BAD_LENGTH, prev_ts
        if btype == 3:
            if n_if == 0:
                return n, pos, _BAD_IFACE, prev_ts
            if blen < 16:
                return n, pos, _BAD_CAPLEN, prev_ts
            wirelen = _u32(buf, pos + 8, big)
            caplen = min(wirelen, blen - 16)
            if snap0 > 0:
                caplen = min(caplen, snap0)
            ts = prev_ts
            link = if_link[0]
            data = pos + 12
        else:
            if blen < 32:
                return n, pos, _BAD_CAPLEN, prev_ts
            ifid = _u32(buf, pos + 8, big) if btype == 6 else _u16(buf, pos + 8, big)
            if ifid >= n_if:
                return n, pos, _BAD_IFACE, prev_ts
            caplen = _u32(buf, pos + 20, big)
            wirelen = _u32(buf, pos + 24, big)
            if caplen > blen - 32:
                return n, pos, _BAD_CAPLEN, prev_ts
            raw = (_u32(buf, pos + 12, big) << 32) | _u32(buf, pos + 16, big)
            ts = _ng_ts(raw, if_shift[ifid], if_mul[ifid], if_div[ifid], if_off[ifid])
            link = if_link[ifid]
            data = pos + 28
        out_off[n] = data
        out_cap[n] = caplen
        out_wire[n] = min(wirelen, _I32_MAX)
        out_ts[n] = ts
        out_link[n] = link
        out_rec[n] = pos
        prev_ts = ts
        n += 1
        pos += blen
    return n, pos, _FULL, prev_ts


@kernel
def _ng_resync(buf: _Bytes, start: int, end: int, big: bool) -> int:
    """The next 4-aligned offset (from the damaged block) where a known block with a sane length starts, or -1."""
    p = start + 4
    while p + 12 <= end:
        btype = _u32(buf, p, big)
        b = big
        if btype == _SHB:
            bom = _u32(buf, p + 8, False)
            if bom != _BOM and _u32(buf, p + 8, True) != _BOM:
                p += 4
                continue
            b = bom != _BOM
        elif not (1 <= btype <= 10 or btype == 0xBAD or btype == 0x40000BAD):
            p += 4
            continue
        blen = _u32(buf, p + 4, b)
        if blen >= 12 and (blen & 3) == 0 and p + blen <= end and _u32(buf, p + blen - 4, b) == blen:
            return p
        p += 4
    return -1


class _Index:
    """The index arrays of one batch being filled."""

    def __init__(self, size: int) -> None:
        self.off = np.empty(size, dtype=np.int64)
        self.cap = np.empty(size, dtype=np.int32)
        self.wire = np.empty(size, dtype=np.int32)
        self.ts = np.empty(size, dtype=np.int64)
        self.link = np.empty(size, dtype=np.int32)
        self.rec = np.empty(size, dtype=np.int64)
        self.n = 0

    @property
    def full(self) -> bool:
        return self.n == self.off.shape[0]

    def batch(self, origin: str, data: npt.NDArray[np.uint8]) -> PacketBatch:
        n = self.n
        return PacketBatch(
            origin=origin,
            data=data,
            offset=self.off[:n],
            caplen=self.cap[:n],
            wirelen=self.wire[:n],
            ts_us=self.ts[:n],
            linktype=self.link[:n],
            record_offset=self.rec[:n],
        )


def _empty_batch(origin: str, data: npt.NDArray[np.uint8]) -> PacketBatch:
    return _Index(0).batch(origin, data)


def _sniff(path: Path) -> bytes:
    """The first 28 bytes, or NotACaptureError when the file is none of ours."""
    try:
        with path.open("rb") as fh:
            head = fh.read(28)
    except OSError as exc:
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    if len(head) < 4:
        raise NotACaptureError("empty or shorter than a capture header", path=path)
    magic = struct.unpack_from("<I", head)[0]
    if magic in _PCAP_MAGICS:
        if len(head) < 24:
            raise NotACaptureError("shorter than a pcap file header", path=path)
        return head
    if magic == _SHB:
        if len(head) < 28:
            raise NotACaptureError("shorter than a pcapng section header", path=path)
        if struct.unpack_from("<I", head, 8)[0] not in (_BOM, 0x4D3C2B1A):
            raise NotACaptureError("pcapng section header with an unknown byte-order magic", path=path)
        return head
    raise NotACaptureError(f"not a pcap or pcapng file (magic {head[:4].hex()})", path=path)


def is_capture(path: Path) -> bool:
    """Whether the file starts like a pcap or pcapng file (for capture rings' unsuffixed names)."""
    try:
        _sniff(path)
    except CaptureError:
        return False
    return True


class FileSource:
    """One pcap or pcapng file. The constructor checks the header; :meth:`batches` reads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.origin = str(path)
        self.problems: list[CaptureError] = []
        head = _sniff(self.path)
        self._pcapng = struct.unpack_from("<I", head)[0] == _SHB
        self._stopped = False

    def stop(self) -> None:
        """Make :meth:`batches` return before its next batch."""
        self._stopped = True

    def batches(self, batch_size: int = DEFAULT_BATCH, *, in_flight: int = 0) -> Iterator[PacketBatch]:
        """Batches of at most ``batch_size`` packets; the last one has ``last_of_origin`` set.

        A batch's pages are dropped from this process's memory when the next is asked for,
        or, with ``in_flight`` (a caller reading ahead), that many batches later.
        """
        if batch_size < 1:
            raise ConfigError(f"must be positive, not {batch_size}", field="batch_size")
        mapped, data = self._map()
        walk = _NgWalk(self, data) if self._pcapng else _PcapWalk(self, data)
        pending: PacketBatch | None = None
        released = 0
        starts: deque[int] = deque()  # where each batch handed out but maybe not yet used ends
        for batch in walk.run(batch_size):
            if pending is not None:
                yield pending
                starts.append(int(batch.record_offset[0]))
                if len(starts) > in_flight:
                    released = _release(mapped, released, starts.popleft())
            if self._stopped:
                return
            pending = batch
        yield replace(pending if pending is not None else _empty_batch(self.origin, data), last_of_origin=True)

    def _map(self) -> tuple[mmap.mmap, npt.NDArray[np.uint8]]:
        try:
            with self.path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise NotACaptureError("empty file", path=self.path)
                mapped = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise CaptureError(f"cannot map: {exc.strerror or exc}", path=self.path) from exc
        return mapped, np.frombuffer(mapped, dtype=np.uint8)

    def _problem(self, offset: int, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(CaptureError(message, path=self.path, offset=offset))
        elif len(self.problems) == _MAX_PROBLEMS:
            self.problems.append(CaptureError("too many problems; further ones are not listed", path=self.path))


def _release(mapped: mmap.mmap, released: int, upto: int) -> int:
    """Drop the pages of packets already handed out from this process's memory.

    They stay in the page cache, and a batch still held by someone reads them back on
    access, so this only keeps a big file's mapping from counting whole against the
    collector's resident memory.
    """
    upto -= upto % mmap.PAGESIZE
    if upto > released and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED, released, upto - released)
        return upto
    return released


def _skipped(start: int, found: int, end: int) -> str:
    if found < 0:
        return f"; no plausible record follows, the last {end - start} bytes are ignored"
    return f"; skipped {found - start} bytes to the next plausible record"


class _PcapWalk:
    """Classic pcap: one link type, fixed 16-byte record headers."""

    def __init__(self, source: FileSource, data: npt.NDArray[np.uint8]) -> None:
        self.source, self.data = source, data
        head = bytes(data[:24])
        self.big, self.nano = _PCAP_MAGICS[struct.unpack_from("<I", head)[0]]
        fmt = ">" if self.big else "<"
        snaplen, network = struct.unpack_from(fmt + "II", head, 16)
        self.linktype = network & 0x03FFFFFF
        self.limit = min(MAX_CAPLEN, 2 * snaplen + 64) if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN
        self.fmt = fmt

    def run(self, batch_size: int) -> Iterator[PacketBatch]:
        data, end, pos = self.data, int(self.data.shape[0]), 24
        prev_sec, have_prev = 0, False
        while True:
            idx = _Index(min(batch_size, (end - pos) // 16 + 1))
            status = _FULL
            while not idx.full:
                n, pos, status = _pcap_walk(
                    data,
                    pos,
                    end,
                    self.big,
                    self.nano,
                    self.limit,
                    idx.off[idx.n :],
                    idx.cap[idx.n :],
                    idx.wire[idx.n :],
                    idx.ts[idx.n :],
                    idx.rec[idx.n :],
                )
                idx.n += int(n)
                pos = int(pos)
                if idx.n:
                    prev_sec, have_prev = int(idx.ts[idx.n - 1]) // 1000000, True
                if status in (_DONE, _FULL):
                    break
                pos = self._damage(int(status), pos, end, prev_sec, have_prev)
                if pos < 0:
                    status = _DONE
                    break
            idx.link[: idx.n] = self.linktype
            if idx.n:
                yield idx.batch(self.source.origin, data)
            if status == _DONE:
                return

    def _damage(self, status: int, pos: int, end: int, prev_sec: int, have_prev: bool) -> int:
        """Record the damaged record at ``pos``; the offset to go on from, or -1."""
        if status == _SHORT_HEADER:
            self.source._problem(pos, f"truncated record header ({end - pos} of 16 bytes)")
            return -1
        caplen = struct.unpack_from(self.fmt + "I", self.data.data, pos + 8)[0]
        if status == _ABSURD:
            what = f"absurd record length {caplen} (limit {self.limit})"
        else:
            what = f"record of {caplen} bytes runs past the end of the file ({end - pos - 16} bytes left)"
        found = int(_pcap_resync(self.data, pos + 1, end, self.big, self.nano, self.limit, prev_sec, have_prev))
        self.source._problem(pos, what + _skipped(pos, found, end))
        return found


class _Interfaces:
    """The interface descriptions of one pcapng section, as the walk kernel wants them."""

    def __init__(self) -> None:
        self.link: list[int] = []
        self.shift: list[int] = []
        self.mul: list[int] = []
        self.div: list[int] = []
        self.off: list[int] = []
        self.snap0 = 0
        self.arrays = self._arrays()

    def add(self, linktype: int, snaplen: int, tsresol: int, tsoffset: int) -> None:
        if not self.link:
            self.snap0 = snaplen
        self.link.append(linktype)
        if tsresol & 0x80:
            self.shift.append(min(tsresol & 0x7F, 63))
            self.mul.append(1)
            self.div.append(1)
        else:
            exp = min(tsresol, 24)
            self.shift.append(-1)
            self.mul.append(10 ** max(6 - exp, 0))
            self.div.append(10 ** min(max(exp - 6, 0), 18))
        self.off.append(max(min(tsoffset, 2**40), -(2**40)) * 1000000)
        self.arrays = self._arrays()

    def _arrays(self) -> _IfArrays:
        return (
            np.array(self.link, dtype=np.int32),
            np.array(self.shift, dtype=np.int64),
            np.array(self.mul, dtype=np.int64),
            np.array(self.div, dtype=np.int64),
            np.array(self.off, dtype=np.int64),
        )


class _NgWalk:
    """pcapng: sections, interfaces with their own link type and time resolution, packet blocks."""

    def __init__(self, source: FileSource, data: npt.NDArray[np.uint8]) -> None:
        self.source, self.data = source, data
        self.big = False
        self.ifaces = _Interfaces()
        self.prev_ts = 0

    def run(self, batch_size: int) -> Iterator[PacketBatch]:
        data, end, pos = self.data, int(self.data.shape[0]), 0
        while True:
            idx = _Index(min(batch_size, (end - pos) // 16 + 1))
            status = _FULL
            while not idx.full:
                n, pos, status, prev_ts = _ng_walk(
                    data,
                    pos,
                    end,
                    self.big,
                    *self.ifaces.arrays,
                    self.ifaces.snap0,
                    self.prev_ts,
                    idx.off[idx.n :],
                    idx.cap[idx.n :],
                    idx.wire[idx.n :],
                    idx.ts[idx.n :],
                    idx.link[idx.n :],
                    idx.rec[idx.n :],
                )
                idx.n += int(n)
                pos, status, self.prev_ts = int(pos), int(status), int(prev_ts)
                if status in (_DONE, _FULL):
                    break
                pos = self._block(pos, end) if status == _OTHER_BLOCK else self._damage(status, pos, end)
                if pos < 0:
                    status = _DONE
                    break
            if idx.n:
                yield idx.batch(self.source.origin, data)
            if status == _DONE:
                return

    def _u32(self, at: int, big: bool | None = None) -> int:
        value: int = struct.unpack_from(">I" if (self.big if big is None else big) else "<I", self.data.data, at)[0]
        return value

    def _block(self, pos: int, end: int) -> int:
        """Handle a non-packet block (section header, interface description, others skipped)."""
        btype = self._u32(pos)
        big = self.big
        if btype == _SHB:
            if pos + 12 > end:
                return self._damage(_BAD_LENGTH, pos, end)
            bom = self._u32(pos + 8, False)
            if bom != _BOM and self._u32(pos + 8, True) != _BOM:
                return self._resync(pos, end, "section header with an unknown byte-order magic")
            big = bom != _BOM
        if pos + 12 > end:
            return self._damage(_BAD_LENGTH, pos, end)
        blen = self._u32(pos + 4, big)
        if blen < 12 or blen % 4 or pos + blen > end or self._u32(pos + blen - 4, big) != blen:
            return self._damage(_BAD_LENGTH, pos, end, big)
        if btype == _SHB:
            self.big = big
            self.ifaces = _Interfaces()
        elif btype == 1:
            if blen < 20:
                self.source._problem(pos, f"interface description block too short ({blen} bytes); link type unknown")
                self.ifaces.add(_UNKNOWN_LINK, 0, 6, 0)
            else:
                self._interface(pos, blen)
        return pos + blen

    def _interface(self, pos: int, blen: int) -> None:
        fmt = ">" if self.big else "<"
        linktype, _reserved, snaplen = struct.unpack_from(fmt + "HHI", self.data.data, pos + 8)
        tsresol, tsoffset = 6, 0
        at, stop = pos + 16, pos + blen - 4
        while at + 4 <= stop:
            code, length = struct.unpack_from(fmt + "HH", self.data.data, at)
            if code == 0 or at + 4 + length > stop:
                break
            if code == 9 and length >= 1:
                tsresol = int(self.data[at + 4])
            elif code == 14 and length >= 8:
                tsoffset = struct.unpack_from(fmt + "q", self.data.data, at + 4)[0]
            at += 4 + (length + 3) // 4 * 4
        self.ifaces.add(linktype, snaplen, tsresol, tsoffset)

    def _damage(self, status: int, pos: int, end: int, big: bool | None = None) -> int:
        """Record a damaged block at ``pos``; the offset to go on from, or -1."""
        if status == _BAD_LENGTH:
            if pos + 12 > end:
                self.source._problem(pos, f"truncated block header ({end - pos} bytes left)")
                return -1
            blen = self._u32(pos + 4, big)
            return self._resync(pos, end, f"bad block length {blen} ({end - pos} bytes left in the file)")
        btype, blen = self._u32(pos), self._u32(pos + 4)
        if status == _BAD_IFACE:
            self.source._problem(pos, f"packet block (type {btype}) names an interface that was not described")
        else:
            self.source._problem(pos, f"packet block (type {btype}) with a captured length beyond the block")
        return pos + blen

    def _resync(self, pos: int, end: int, what: str) -> int:
        found = int(_ng_resync(self.data, pos, end, self.big))
        self.source._problem(pos, what + _skipped(pos, found, end))
        return found
