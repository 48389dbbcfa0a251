"""A live interface through libpcap (ctypes): the kernel filters with BPF, we copy into batches.

libpcap is loaded lazily, so importing metagate works where it is not installed; every
libpcap failure becomes a CaptureError naming the interface (or the filter).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

from collectors._packets import PacketBatch
from policies import CaptureError

_ERRBUF = 256
_NETMASK_UNKNOWN = 0xFFFFFFFF
_ERR_NO_SUCH_DEVICE = -5
_ERR_PERM_DENIED = -8
_ERR_PROMISC_PERM_DENIED = -11
_NAP = 0.1
"""Longest wait between looks at the stop flag."""


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


class _Stat(ctypes.Structure):
    _fields_ = [("ps_recv", ctypes.c_uint), ("ps_drop", ctypes.c_uint), ("ps_ifdrop", ctypes.c_uint)]


@cache
def _libpcap() -> ctypes.CDLL:
    """libpcap with the prototypes we use declared (so pointers are not truncated to int)."""
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise CaptureError("libpcap is not installed (Debian: apt-get install libpcap0.8)")
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise CaptureError(f"cannot load {name}: {exc}") from exc
    vp, i, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    protos: dict[str, tuple[type | None, list[type]]] = {
        "pcap_create": (vp, [cp, cp]),
        "pcap_set_snaplen": (i, [vp, i]),
        "pcap_set_promisc": (i, [vp, i]),
        "pcap_set_timeout": (i, [vp, i]),
        "pcap_activate": (i, [vp]),
        "pcap_geterr": (cp, [vp]),
        "pcap_statustostr": (cp, [i]),
        "pcap_compile": (i, [vp, ctypes.POINTER(_BpfProgram), cp, i, ctypes.c_uint32]),
        "pcap_setfilter": (i, [vp, ctypes.POINTER(_BpfProgram)]),
        "pcap_freecode": (None, [ctypes.POINTER(_BpfProgram)]),
        "pcap_datalink": (i, [vp]),
        "pcap_next_ex": (i, [vp, ctypes.POINTER(ctypes.POINTER(_PktHdr)), ctypes.POINTER(vp)]),
        "pcap_stats": (i, [vp, ctypes.POINTER(_Stat)]),
        "pcap_breakloop": (None, [vp]),
        "pcap_setnonblock": (i, [vp, i, cp]),
        "pcap_get_selectable_fd": (i, [vp]),
        "pcap_close": (None, [vp]),
    }
    for fname, (restype, argtypes) in protos.items():
        func = getattr(lib, fname)
        func.restype = restype
        func.argtypes = argtypes
    return lib


@dataclass(frozen=True)
class LiveStats:
    """libpcap's counters: packets the kernel saw for us, and those it dropped."""

    received: int
    dropped: int
    interface_dropped: int


class LiveSource:
    """Packets of one interface, in batches of ``batch_size`` or whatever ``timeout_ms`` brought."""

    def __init__(
        self,
        interface: str,
        bpf: str | None = None,
        snaplen: int = 262144,
        promisc: bool = False,
        timeout_ms: int = 200,
        batch_size: int = 4096,
    ) -> None:
        self.interface = interface
        self.origin = interface
        self.bpf = bpf
        self.batch_size = batch_size
        self.timeout = timeout_ms / 1000.0
        self.problems: list[CaptureError] = []
        self.packets = 0
        self._stopped = False
        self._final: LiveStats | None = None
        self._fd = -1
        self._lib = _libpcap()
        self._handle: int | None = self._open(snaplen, promisc, timeout_ms)
        self.linktype = int(self._lib.pcap_datalink(self._handle))

    def _open(self, snaplen: int, promisc: bool, timeout_ms: int) -> int:
        lib = self._lib
        errbuf = ctypes.create_string_buffer(_ERRBUF)
        handle = lib.pcap_create(self.interface.encode(), errbuf)
        if not handle:
            raise CaptureError(f"interface {self.interface!r}: {errbuf.value.decode(errors='replace')}")
        try:
            lib.pcap_set_snaplen(handle, snaplen)
            lib.pcap_set_promisc(handle, int(promisc))
            lib.pcap_set_timeout(handle, timeout_ms)
            status = lib.pcap_activate(handle)
            if status < 0:
                raise CaptureError(f"interface {self.interface!r}: {self._activate_error(handle, status)}")
            if self.bpf is not None:
                self._set_filter(handle, self.bpf)
            # Linux's TPACKET_V3 read blocks until a packet comes, whatever the timeout: we read
            # without blocking and wait in select(), so a partial batch and stop() are not held up.
            if lib.pcap_setnonblock(handle, 1, errbuf) < 0:
                raise CaptureError(f"interface {self.interface!r}: {errbuf.value.decode(errors='replace')}")
            self._fd = int(lib.pcap_get_selectable_fd(handle))
            if self._fd < 0:
                raise CaptureError(f"interface {self.interface!r}: libpcap offers no descriptor to wait on")
        except BaseException:
            lib.pcap_close(handle)
            raise
        return int(handle)

    def _activate_error(self, handle: int, status: int) -> str:
        text = (self._lib.pcap_geterr(handle) or b"").decode(errors="replace")
        if status == _ERR_NO_SUCH_DEVICE:
            return f"no such interface ({text})" if text else "no such interface"
        if status in (_ERR_PERM_DENIED, _ERR_PROMISC_PERM_DENIED):
            return f"permission denied ({text}); capturing needs root or CAP_NET_RAW"
        return text or self._lib.pcap_statustostr(status).decode(errors="replace")

    def _set_filter(self, handle: int, expression: str) -> None:
        lib = self._lib
        program = _BpfProgram()
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, _NETMASK_UNKNOWN) < 0:
            text = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
            raise CaptureError(f"interface {self.interface!r}: bad BPF filter {expression!r}: {text}")
        try:
            if lib.pcap_setfilter(handle, ctypes.byref(program)) < 0:
                text = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                raise CaptureError(f"interface {self.interface!r}: cannot set BPF filter {expression!r}: {text}")
        finally:
            lib.pcap_freecode(ctypes.byref(program))

    def stop(self) -> None:
        """Make :meth:`batches` return within a tenth of a second (safe from a thread or signal handler)."""
        self._stopped = True
        if self._handle is not None:
            self._lib.pcap_breakloop(self._handle)

    def batches(self, batch_size: int = 262144) -> Iterator[PacketBatch]:
        """Batches until :meth:`stop`; the interface is closed when this returns."""
        if self._handle is None:
            raise CaptureError(f"interface {self.interface!r}: the capture is closed")
        limit = max(1, min(batch_size, self.batch_size))
        try:
            while not self._stopped:
                batch = self._collect(limit)
                if batch is not None:
                    yield batch
        finally:
            self.close()

    def _collect(self, limit: int) -> PacketBatch | None:
        """Up to ``limit`` packets, returned early once ``timeout`` has passed with any; None if none came."""
        lib, handle = self._lib, self._handle
        header = ctypes.POINTER(_PktHdr)()
        data = ctypes.c_void_p()
        frames: list[bytes] = []
        ts: list[int] = []
        wire: list[int] = []
        started = time.monotonic()
        while len(frames) < limit and not self._stopped:
            status = lib.pcap_next_ex(handle, ctypes.byref(header), ctypes.byref(data))
            if status == 1:
                hdr = header.contents
                frames.append(ctypes.string_at(data.value or 0, hdr.caplen))
                ts.append(hdr.ts.tv_sec * 1_000_000 + hdr.ts.tv_usec)
                wire.append(hdr.len)
                if time.monotonic() - started >= self.timeout:
                    break
                continue
            if status == -2:  # pcap_breakloop
                break
            if status < 0:
                text = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
                self.problems.append(CaptureError(f"interface {self.interface!r}: {text}"))
                self._stopped = True
                break
            if not frames:
                started = time.monotonic()
            left = self.timeout - (time.monotonic() - started)
            if frames and left <= 0:
                break
            self._wait(min(left, _NAP))
        if not frames:
            return None
        return self._batch(frames, ts, wire)

    def _wait(self, seconds: float) -> None:
        try:
            select.select([self._fd], [], [], max(seconds, 0.0))
        except (OSError, ValueError):  # the descriptor went away with a concurrent close
            self._stopped = True

    def _batch(self, frames: list[bytes], ts: list[int], wire: list[int]) -> PacketBatch:
        lengths = np.fromiter((len(f) for f in frames), dtype=np.int32, count=len(frames))
        offsets = np.zeros(len(frames), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        first = self.packets
        self.packets += len(frames)
        return PacketBatch(
            origin=self.origin,
            data=np.frombuffer(b"".join(frames), dtype=np.uint8),
            offset=offsets,
            caplen=lengths,
            wirelen=np.array(wire, dtype=np.int64).clip(0, 2**31 - 1).astype(np.int32),
            ts_us=np.array(ts, dtype=np.int64),
            linktype=np.full(len(frames), self.linktype, dtype=np.int32),
            record_offset=np.arange(first, self.packets, dtype=np.int64),
        )

    def stats(self) -> LiveStats:
        """libpcap's counters now (or at close, once the capture is closed)."""
        if self._handle is None:
            return self._final if self._final is not None else LiveStats(0, 0, 0)
        raw = _Stat()
        if self._lib.pcap_stats(self._handle, ctypes.byref(raw)) < 0:
            text = (self._lib.pcap_geterr(self._handle) or b"").decode(errors="replace")
            raise CaptureError(f"interface {self.interface!r}: no statistics: {text}")
        return LiveStats(int(raw.ps_recv), int(raw.ps_drop), int(raw.ps_ifdrop))

    @property
    def dropped(self) -> int:
        """Packets the kernel dropped because we did not read fast enough."""
        return self.stats().dropped

    def close(self) -> None:
        """Keep the final counters and release the capture handle."""
        if self._handle is None:
            return
        try:
            self._final = self.stats()
        except CaptureError:
            self._final = None
        handle, self._handle = self._handle, None
        self._lib.pcap_close(handle)

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
