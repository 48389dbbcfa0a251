"""Flows described column-wise, and the packets each kind of flow sends.

A :class:`FlowSet` is many flows of one kind at once: their client and server ends, ports,
protocol, start times and (for a mobile core) the GTP-U tunnel they ride in. Two emitters turn
a flow set into packets: :func:`pattern` (every flow sends the same short exchange: a TCP
handshake, a request, a response, the FINs) and :func:`stream` (each flow sends its own
number of packets one way: floods, reflected responses).

Addresses are (hi, lo) 64-bit halves; an IPv4 address is ``lo`` with ``hi`` = 0.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
from _pcapgen import ACK, FIN, ICMP, PSH, RST, SYN, Packets

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]


@dataclass
class Addresses:
    hi: U64
    lo: U64
    v6: Bool

    def __len__(self) -> int:
        return len(self.lo)

    def take(self, index: I64) -> Addresses:
        return Addresses(self.hi[index], self.lo[index], self.v6[index])

    def text(self) -> list[str]:
        return [
            str(ipaddress.IPv6Address((int(h) << 64) | int(low))) if v else str(ipaddress.IPv4Address(int(low)))
            for h, low, v in zip(self.hi, self.lo, self.v6, strict=True)
        ]

    @classmethod
    def v4(cls, values: npt.ArrayLike) -> Addresses:
        lo = np.asarray(values, dtype=np.int64).astype(np.uint64)
        return cls(np.zeros(len(lo), np.uint64), lo, np.zeros(len(lo), np.bool_))

    @classmethod
    def v6_from(cls, prefix: str, low_bits: npt.ArrayLike) -> Addresses:
        """Addresses in the /64 ``prefix`` with the given interface identifiers."""
        net = ipaddress.IPv6Network(prefix)
        hi = np.full(len(np.asarray(low_bits)), int(net.network_address) >> 64, np.uint64)
        return cls(hi, np.asarray(low_bits, dtype=np.uint64), np.ones(len(hi), np.bool_))

    @classmethod
    def parse(cls, texts: list[str]) -> Addresses:
        his, los, v6s = [], [], []
        for text in texts:
            ip = ipaddress.ip_address(text)
            his.append(int(ip) >> 64 if ip.version == 6 else 0)
            los.append(int(ip) & 0xFFFFFFFFFFFFFFFF)
            v6s.append(ip.version == 6)
        return cls(np.array(his, np.uint64), np.array(los, np.uint64), np.array(v6s, np.bool_))

    @classmethod
    def concat(cls, parts: list[Addresses]) -> Addresses:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


@dataclass
class FlowSet:
    """Flows of one kind: client opens, server answers (or not)."""

    start: I64  # microseconds
    client: Addresses
    server: Addresses
    cport: I64
    sport: I64
    l4: I64
    gtp: Bool
    outer_client: I64
    outer_server: I64

    def __len__(self) -> int:
        return len(self.start)


def flowset(
    start: npt.ArrayLike,
    client: Addresses,
    server: Addresses,
    cport: npt.ArrayLike,
    sport: npt.ArrayLike,
    l4: int,
    *,
    gtp: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> FlowSet:
    s = np.asarray(start, dtype=np.int64)
    n = len(s)

    def full(values: npt.ArrayLike) -> I64:
        return np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)).copy()

    if gtp is None:
        tunnel, outer_c, outer_s = np.zeros(n, np.bool_), np.zeros(n, np.int64), np.zeros(n, np.int64)
    else:
        tunnel, outer_c, outer_s = np.ones(n, np.bool_), full(gtp[0]), full(gtp[1])
    return FlowSet(s, client, server, full(cport), full(sport), np.full(n, l4, np.int64), tunnel, outer_c, outer_s)


@dataclass(frozen=True)
class Step:
    """One packet of a pattern: who sends it, its TCP flags (ICMP: its type), payload and the gap before it."""

    to_client: bool
    flags: int = 0
    payload: tuple[int, int] = (0, 0)
    gap_us: tuple[int, int] = (500, 40_000)


def _packets(fs: FlowSet, flow: I64, to_client: Bool, ts: I64, flags: I64, payload: I64, seq: I64) -> Packets:
    src_hi = np.where(to_client, fs.server.hi[flow], fs.client.hi[flow])
    src_lo = np.where(to_client, fs.server.lo[flow], fs.client.lo[flow])
    dst_hi = np.where(to_client, fs.client.hi[flow], fs.server.hi[flow])
    dst_lo = np.where(to_client, fs.client.lo[flow], fs.server.lo[flow])
    icmp = fs.l4[flow] == ICMP
    sport = np.where(icmp, fs.cport[flow], np.where(to_client, fs.sport[flow], fs.cport[flow]))
    dport = np.where(icmp, seq, np.where(to_client, fs.cport[flow], fs.sport[flow]))
    teid = (flow * 2654435761 + to_client) & 0xFFFFFFFF
    return Packets(
        ts=ts,
        v6=fs.client.v6[flow],
        l4=fs.l4[flow],
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        sport=sport,
        dport=dport,
        flags=flags,
        payload=payload,
        gtp=fs.gtp[flow],
        outer_src=np.where(to_client, fs.outer_server[flow], fs.outer_client[flow]),
        outer_dst=np.where(to_client, fs.outer_client[flow], fs.outer_server[flow]),
        teid=teid.astype(np.int64),
    )


def pattern(rng: np.random.Generator, fs: FlowSet, steps: list[Step]) -> Packets:
    """Every flow of ``fs`` sends ``steps`` in order."""
    n, m = len(fs), len(steps)
    if n == 0:
        return no_packets()
    gaps = np.stack([rng.integers(s.gap_us[0], s.gap_us[1] + 1, size=n) for s in steps], axis=1)
    gaps[:, 0] = 0
    ts = fs.start[:, None] + np.cumsum(gaps, axis=1)
    payload = np.stack([rng.integers(s.payload[0], s.payload[1] + 1, size=n) for s in steps], axis=1)
    flow = np.repeat(np.arange(n, dtype=np.int64), m)
    to_client = np.tile(np.array([s.to_client for s in steps]), n)
    flags = np.tile(np.array([s.flags for s in steps], np.int64), n)
    is_v6 = fs.client.v6[flow]
    icmp = fs.l4[flow] == ICMP
    flags = np.where(icmp & is_v6, np.where(flags == 8, 128, 129), flags)
    seq = np.tile(np.arange(m, dtype=np.int64) // 2 + 1, n)
    return _packets(fs, flow, to_client, ts.ravel(), flags, payload.ravel(), seq)


def stream(
    rng: np.random.Generator,
    fs: FlowSet,
    count: npt.ArrayLike,
    *,
    to_client: bool,
    flags: int = 0,
    payload: tuple[int, int] = (40, 40),
    gap_us: npt.ArrayLike = 10_000,
) -> Packets:
    """Each flow sends ``count`` packets one way, ``gap_us`` apart on average (exponential gaps)."""
    n = len(fs)
    counts = np.broadcast_to(np.asarray(count, dtype=np.int64), (n,))
    gaps_mean = np.broadcast_to(np.asarray(gap_us, dtype=np.float64), (n,))
    flow = np.repeat(np.arange(n, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    position = np.arange(len(flow), dtype=np.int64) - first[flow]
    gap = np.maximum(rng.exponential(1.0, len(flow)) * gaps_mean[flow], 1).astype(np.int64)
    gap[first[counts > 0]] = 0
    offset = np.cumsum(gap) - np.repeat(np.cumsum(gap)[first] - gap[first], counts)
    ts = fs.start[flow] + offset
    return _packets(
        fs,
        flow,
        np.full(len(flow), to_client),
        ts,
        np.full(len(flow), flags, np.int64),
        rng.integers(payload[0], payload[1] + 1, size=len(flow)),
        position + 1,
    )


# the exchanges the scenarios use
WEB = [  # a short HTTPS exchange, FIN both ways (SF) in four packets
    Step(False, SYN),
    Step(True, SYN | ACK),
    Step(False, PSH | ACK | FIN, (40, 160)),
    Step(True, PSH | ACK | FIN, (80, 400)),
]
MAIL = [
    Step(False, SYN),
    Step(True, SYN | ACK),
    Step(True, PSH | ACK, (40, 90)),
    Step(False, PSH | ACK, (300, 900), (20_000, 300_000)),
    Step(True, PSH | ACK | FIN, (20, 60)),
    Step(False, FIN | ACK),
]
LOGIN = [  # a password attempt against SSH / RDP / Telnet: banner, exchange, refusal, close
    Step(False, SYN),
    Step(True, SYN | ACK),
    Step(False, ACK),
    Step(True, PSH | ACK, (20, 40)),
    Step(False, PSH | ACK, (300, 320), (50_000, 200_000)),
    Step(True, PSH | ACK, (300, 340)),
    Step(False, PSH | ACK, (60, 64), (100_000, 400_000)),
    Step(True, PSH | ACK, (40, 44), (300_000, 900_000)),
    Step(False, FIN | ACK),
    Step(True, FIN | ACK),
]
SESSION = [  # an interactive session: many packets, long
    Step(False, SYN),
    Step(True, SYN | ACK),
    Step(False, ACK),
    *[Step(i % 2 == 1, PSH | ACK, (40, 400), (1_000_000, 30_000_000)) for i in range(12)],
    Step(False, FIN | ACK),
    Step(True, FIN | ACK),
]
SYN_ONLY = [Step(False, SYN)]
REFUSED = [Step(False, SYN), Step(True, RST | ACK)]
HALF_OPEN = [Step(False, SYN), Step(True, SYN | ACK), Step(False, RST)]  # a SYN scan finding an open port
UDP_PAIR = [Step(False, 0, (30, 60)), Step(True, 0, (80, 400))]
UDP_ONE = [Step(False, 0, (20, 60))]
QUIC = [Step(False, 0, (1200, 1250)), Step(True, 0, (200, 600))]
NTP = [Step(False, 0, (48, 48)), Step(True, 0, (48, 48), (1_000, 60_000))]
ECHO = [Step(False, 8, (56, 56)), Step(True, 0, (56, 56), (1_000, 80_000))]
ECHO_UNANSWERED = [Step(False, 8, (56, 56))]


def no_packets() -> Packets:
    empty = np.zeros(0, np.int64)
    return Packets(
        ts=empty,
        v6=np.zeros(0, np.bool_),
        l4=empty,
        src_hi=empty.astype(np.uint64),
        src_lo=empty.astype(np.uint64),
        dst_hi=empty.astype(np.uint64),
        dst_lo=empty.astype(np.uint64),
        sport=empty,
        dport=empty,
        flags=empty,
        payload=empty,
        gtp=np.zeros(0, np.bool_),
        outer_src=empty,
        outer_dst=empty,
        teid=empty,
    )
