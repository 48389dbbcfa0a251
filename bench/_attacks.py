"""Labelled attacks of every kind, at several intensities and durations.

Each function builds the packets of one attack and its label: the kind, the outside
addresses a finding must name (any one of them is a match), and the time span of the attack
(flow time). The scenario (make_scenarios.py) places them over the capture; bench/README.md
lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _addresses import I64, foreign
from _flowgen import (
    ECHO,
    ECHO_UNANSWERED,
    HALF_OPEN,
    LOGIN,
    REFUSED,
    SYN_ONLY,
    UDP_ONE,
    WEB,
    Addresses,
    Step,
    flowset,
    pattern,
    stream,
)
from _pcapgen import ICMP, SYN, TCP, UDP, Packets

US = 1_000_000
PROTOCOL = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}


@dataclass
class Attack:
    """One labelled attack: its packets and what a finding must say about it."""

    kind: str
    name: str
    subjects: list[str]
    start_us: int
    end_us: int
    packets: Packets
    intensity: dict[str, Any] = field(default_factory=dict)

    def label(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "kind": self.kind,
            "subjects": self.subjects,
            "start_us": self.start_us,
            "end_us": self.end_us,
            "intensity": self.intensity,
        }


def _span(p: Packets) -> tuple[int, int]:
    return int(p.ts.min()), int(p.ts.max())


def _ports(rng: np.random.Generator, n: int) -> I64:
    return rng.integers(20000, 60000, n)


def _one(address: Addresses, n: int) -> Addresses:
    return address.take(np.zeros(n, np.int64))


def _mixed(
    rng: np.random.Generator, fs_of: Any, n: int, answered_share: float, closed: list[Step], opened: list[Step]
) -> Packets:
    answered = rng.random(n) < answered_share
    parts = []
    for steps, mask in ((opened, answered), (closed, ~answered)):
        rows = np.flatnonzero(mask)
        if len(rows):
            parts.append(pattern(rng, fs_of(rows), steps))
    return Packets.concat(parts)


def horizontal(
    rng: np.random.Generator,
    name: str,
    t: int,
    scanner: Addresses,
    targets: Addresses,
    port: int,
    l4: int,
    duration_s: float,
    answered: float,
) -> Attack:
    """One source, one service, many destinations; ``answered`` of them answer (open ports, echo replies)."""
    n = len(targets)
    start = t + np.sort(rng.integers(0, int(duration_s * US), n))
    cport = _ports(rng, n)

    def fs_of(rows: I64) -> Any:
        return flowset(start[rows], _one(scanner, len(rows)), targets.take(rows), cport[rows], port, l4)

    closed, opened = {TCP: (SYN_ONLY, HALF_OPEN), UDP: (UDP_ONE, UDP_ONE), ICMP: (ECHO_UNANSWERED, ECHO)}[l4]
    packets = _mixed(rng, fs_of, n, answered, closed, opened)
    speed = "slow" if duration_s > 3600 else "fast"
    return Attack(
        "horizontal-scan",
        name,
        scanner.text(),
        *_span(packets),
        packets,
        {"targets": n, "port": port, "proto": PROTOCOL[l4], "duration_s": duration_s, "speed": speed},
    )


def vertical(
    rng: np.random.Generator,
    name: str,
    t: int,
    scanner: Addresses,
    target: Addresses,
    ports: I64,
    l4: int,
    duration_s: float,
    open_share: float,
    refused: bool,
) -> Attack:
    """One source, one destination, many services; closed ports refuse (RST) or stay silent."""
    n = len(ports)
    start = t + np.sort(rng.integers(0, int(duration_s * US), n))
    cport = np.full(n, int(rng.integers(30000, 60000)))

    def fs_of(rows: I64) -> Any:
        return flowset(start[rows], _one(scanner, len(rows)), _one(target, len(rows)), cport[rows], ports[rows], l4)

    if l4 == UDP:
        closed, opened = UDP_ONE, UDP_ONE
    else:
        closed, opened = (REFUSED if refused else SYN_ONLY), HALF_OPEN
    packets = _mixed(rng, fs_of, n, open_share, closed, opened)
    speed = "slow" if duration_s > 3600 else "fast"
    return Attack(
        "vertical-scan",
        name,
        scanner.text(),
        *_span(packets),
        packets,
        {"ports": n, "proto": PROTOCOL[l4], "duration_s": duration_s, "speed": speed, "refused": refused},
    )


def brute_force(
    rng: np.random.Generator,
    name: str,
    t: int,
    attacker: Addresses,
    targets: Addresses,
    port: int,
    attempts: int,
    duration_s: float,
) -> Attack:
    """Login attempts spread over ``targets`` (one target: plain brute force; many: spraying)."""
    start = t + np.sort(rng.integers(0, int(duration_s * US), attempts))
    which = np.arange(attempts) % len(targets)
    fs = flowset(start, _one(attacker, attempts), targets.take(which), _ports(rng, attempts), port, TCP)
    packets = pattern(rng, fs, LOGIN)
    return Attack(
        "brute-force",
        name,
        attacker.text(),
        *_span(packets),
        packets,
        {"attempts": attempts, "targets": len(targets), "port": port, "duration_s": duration_s},
    )


def sip_brute_force(
    rng: np.random.Generator,
    name: str,
    t: int,
    attacker: Addresses,
    target: Addresses,
    attempts: int,
    duration_s: float,
) -> Attack:
    """REGISTER after REGISTER over one UDP socket, each answered (401): one flow, many attempts."""
    gap = duration_s * US / attempts
    fs = flowset([t], attacker, target, [5070], 5060, UDP)
    ask = stream(rng, fs, attempts, to_client=False, payload=(420, 480), gap_us=gap)
    answer = stream(
        rng,
        flowset([t + 2000], attacker, target, [5070], 5060, UDP),
        attempts,
        to_client=True,
        payload=(380, 420),
        gap_us=gap,
    )
    packets = Packets.concat([ask, answer])
    return Attack(
        "brute-force",
        name,
        attacker.text(),
        *_span(packets),
        packets,
        {"attempts": attempts, "targets": 1, "port": 5060, "proto": "udp", "duration_s": duration_s},
    )


def beaconing(
    rng: np.random.Generator,
    name: str,
    t: int,
    hosts: Addresses,
    c2: Addresses,
    port: int,
    period_s: float,
    jitter: float,
    duration_s: float,
    gtp: tuple[int, int] | None = None,
) -> Attack:
    """Each host connects to the C2 every period, sleeping period * (1 - jitter * U(0, 1))."""
    beats = int(duration_s / (period_s * (1 - jitter / 2))) + 1
    starts, who = [], []
    for h in range(len(hosts)):
        sleeps = period_s * (1 - jitter * rng.random(beats)) * US
        at = t + int(rng.integers(0, int(period_s * US))) + np.cumsum(sleeps).astype(np.int64)
        at = at[at < t + duration_s * US]
        starts.append(at)
        who.append(np.full(len(at), h))
    start, host = np.concatenate(starts), np.concatenate(who)
    tunnel = None if gtp is None else (np.full(len(start), gtp[0]), np.full(len(start), gtp[1]))
    fs = flowset(start, hosts.take(host), _one(c2, len(start)), _ports(rng, len(start)), port, TCP, gtp=tunnel)
    packets = pattern(rng, fs, WEB)
    return Attack(
        "beaconing",
        name,
        c2.text(),
        *_span(packets),
        packets,
        {"hosts": len(hosts), "period_s": period_s, "jitter": jitter, "duration_s": duration_s},
    )


def udp_flood(
    rng: np.random.Generator,
    name: str,
    t: int,
    sources: Addresses,
    target: Addresses,
    port: int,
    per_source: int,
    duration_s: float,
    l4: int = UDP,
) -> Attack:
    """Every source sends ``per_source`` packets, nothing comes back."""
    n = len(sources)
    fs = flowset(t + rng.integers(0, int(5 * US), n), sources, _one(target, n), _ports(rng, n), port, l4)
    flags = 8 if l4 == ICMP else 0
    packets = stream(
        rng, fs, per_source, to_client=False, flags=flags, payload=(20, 120), gap_us=duration_s * US / per_source
    )
    return Attack(
        "ddos",
        name,
        sources.text(),
        *_span(packets),
        packets,
        {"sources": n, "packets": n * per_source, "proto": PROTOCOL[l4], "duration_s": duration_s},
    )


def syn_flood(
    rng: np.random.Generator, name: str, t: int, target: Addresses, port: int, flows: int, duration_s: float
) -> Attack:
    """Spoofed SYNs: a new random source for (almost) every packet."""
    sources = Addresses.v4(foreign(rng, flows, 13))
    fs = flowset(
        t + np.sort(rng.integers(0, int(duration_s * US), flows)),
        sources,
        _one(target, flows),
        _ports(rng, flows),
        port,
        TCP,
    )
    packets = pattern(rng, fs, [Step(False, SYN)])
    return Attack(
        "ddos",
        name,
        sources.text(),
        *_span(packets),
        packets,
        {"sources": flows, "packets": flows, "proto": "tcp", "duration_s": duration_s, "spoofed": True},
    )


def reflection(
    rng: np.random.Generator,
    name: str,
    t: int,
    reflectors: Addresses,
    victim: Addresses,
    port: int,
    per_reflector: int,
    size: tuple[int, int],
    duration_s: float,
) -> Attack:
    """Responses nobody here asked for: from the service port of each reflector to the victim."""
    n = len(reflectors)
    fs = flowset(
        t + rng.integers(0, int(3 * US), n), reflectors, _one(victim, n), port, int(rng.integers(1024, 65535)), UDP
    )
    packets = stream(rng, fs, per_reflector, to_client=False, payload=size, gap_us=duration_s * US / per_reflector)
    return Attack(
        "reflection",
        name,
        reflectors.text(),
        *_span(packets),
        packets,
        {"reflectors": n, "port": port, "response_bytes": n * per_reflector * sum(size) // 2, "duration_s": duration_s},
    )


def amplification(
    rng: np.random.Generator,
    name: str,
    t: int,
    victim: Addresses,
    amplifiers: Addresses,
    port: int,
    queries: int,
    answer: tuple[int, int],
    duration_s: float,
) -> Attack:
    """A spoofed victim abroad asks our customers' open services; they answer it, amplified."""
    n = len(amplifiers)
    gap = duration_s * US / queries
    start = t + rng.integers(0, int(3 * US), n)
    fs = flowset(start, _one(victim, n), amplifiers, 3074, port, UDP)
    ask = stream(rng, fs, queries, to_client=False, payload=(36, 40), gap_us=gap)
    fs_answer = flowset(start + 3000, _one(victim, n), amplifiers, 3074, port, UDP)
    reply = stream(rng, fs_answer, 3 * queries, to_client=True, payload=answer, gap_us=gap / 3)
    packets = Packets.concat([ask, reply])
    return Attack(
        "reflection",
        name,
        victim.text(),
        *_span(packets),
        packets,
        {"amplifiers": n, "port": port, "queries": n * queries, "duration_s": duration_s, "ours": True},
    )


def visits(
    rng: np.random.Generator, t: int, clients: Addresses, servers: Addresses, port: int, flows: int, duration_s: float
) -> Packets:
    """Ordinary web flows from ``clients`` to ``servers`` (an indicated range, say)."""
    fs = flowset(
        t + np.sort(rng.integers(0, int(duration_s * US), flows)),
        clients.take(rng.integers(0, len(clients), flows)),
        servers.take(rng.integers(0, len(servers), flows)),
        _ports(rng, flows),
        port,
        TCP,
    )
    return pattern(rng, fs, WEB)
