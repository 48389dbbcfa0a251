"""Write the detectors' quality scenarios: captures of carrier traffic with labelled attacks.

    python bench/make_scenarios.py [--out DIR] [--benign-flows N] [--background-flows N] [--seed S]

Writes into DIR (default bench/out/detect/):

- ``scenario.pcap``: eight hours of benign background (_benign.py) with 40 labelled attacks of
  every kind at several intensities and durations (below), and flows touching the partner's
  indicated addresses;
- ``labels.jsonl``: one line an attack or indicator event: kind, the outside addresses a
  finding must name (one is enough), start and end (flow time, microseconds);
- ``benign.pcap``: benign traffic only, 1,000,000 flows over six hours by default;
- ``indicators.json``: the partner's STIX 2.1 bundle (addresses seen in the scenario,
  addresses never seen, a prefix, a port-qualified pattern, a revoked and an expired
  indicator whose addresses do appear, one pattern on a domain name);
- ``site.yaml``, ``bench-key.hex``: the bench carrier's policy (jp-acd, domestic space as in
  _addresses.py, one approval for traffic with foreign parties) for ``metagate collect --policy``.

Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _addresses import (
    ATTACKERS,
    BROADBAND,
    C2,
    CGNAT_POOL,
    CUSTOMERS,
    DOMESTIC_PREFIXES,
    FLOODERS,
    INDICATED,
    MOBILE,
    OPEN_RESOLVERS,
    PGW,
    REFLECTORS,
    ROAMING,
    V6_C2,
    V6_SCANNER,
    V6_SUBSCRIBERS,
    WEB_SERVERS,
    foreign,
    v4,
)
from _attacks import (
    Attack,
    amplification,
    beaconing,
    brute_force,
    horizontal,
    reflection,
    sip_brute_force,
    syn_flood,
    udp_flood,
    vertical,
    visits,
)
from _benign import benign
from _flowgen import Addresses
from _pcapgen import ICMP, TCP, UDP, Packets, write_pcap

OUT = Path(__file__).resolve().parent / "out" / "detect"
T0 = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp()) * 1_000_000
US = 1_000_000
HOUR = 3600 * US
NAMESPACE = uuid.UUID("3c8f2b8e-6c1d-5a7e-9b1f-2d4e6a8c0b13")


class Scenario:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.attacks: list[Attack] = []
        self.extra: list[Packets] = []
        self.events: list[dict[str, Any]] = []
        self.attackers = iter(foreign(rng, 400, ATTACKERS).tolist())
        self.c2s = iter(foreign(rng, 20, C2).tolist())
        self.flooders = iter(foreign(rng, 4000, FLOODERS).tolist())
        self.reflectors = iter(foreign(rng, 2000, REFLECTORS).tolist())
        self.hosts = iter((CUSTOMERS + rng.permutation(8192)).tolist())

    def one(self, pool: Any) -> Addresses:
        return v4([next(pool)])

    def many(self, pool: Any, n: int) -> Addresses:
        return v4([next(pool) for _ in range(n)])

    def at(self, hours: float) -> int:
        return T0 + int(hours * HOUR)

    def add(self, attack: Attack) -> Attack:
        self.attacks.append(attack)
        return attack

    def scans(self) -> None:
        rng = self.rng
        h = self.add  # shorter lines below
        # horizontal, fast: (start h, targets, port, proto, seconds, answered share)
        for i, (hours, n, port, l4, seconds, answered) in enumerate(
            [
                (0.6, 250, 22, TCP, 120, 0.1),
                (1.4, 60, 445, TCP, 300, 0.05),
                (2.2, 35, 3389, TCP, 480, 0.0),
                (3.1, 120, 161, UDP, 180, 0.0),
                (4.3, 200, 8, ICMP, 60, 0.2),
                (5.2, 30, 23, TCP, 240, 0.0),
                (7.2, 27, 8443, TCP, 180, 0.05),  # just over the threshold
            ]
        ):
            targets = self.many(self.hosts, n)
            h(
                horizontal(
                    rng, f"hscan-{i}", self.at(hours), self.one(self.attackers), targets, port, l4, seconds, answered
                )
            )
        six = Addresses.v6_from(V6_SUBSCRIBERS, rng.integers(1, 1 << 62, 40))
        scanner6 = Addresses.v6_from(V6_SCANNER, [0x5CA7])
        h(horizontal(rng, "hscan-v6", self.at(6.1), scanner6, six, 23, TCP, 200, 0.0))
        # horizontal, slow: one probe every few minutes over hours
        for i, (hours, n, port, span) in enumerate(
            [(0.3, 80, 23, 4 * 3600), (2.0, 50, 8080, 2.5 * 3600), (1.0, 110, 5900, 6 * 3600)]
        ):
            h(
                horizontal(
                    rng,
                    f"hscan-slow-{i}",
                    self.at(hours),
                    self.one(self.attackers),
                    self.many(self.hosts, n),
                    port,
                    TCP,
                    span,
                    0.0,
                )
            )
        # vertical: (start h, ports, proto, seconds, open share, refused)
        for i, (hours, n, l4, seconds, opened, refused) in enumerate(
            [
                (0.9, 1000, TCP, 180, 0.03, True),
                (2.6, 100, TCP, 600, 0.0, False),
                (3.8, 30, TCP, 300, 0.1, True),
                (5.6, 60, UDP, 300, 0.0, False),
                (0.5, 60, TCP, 4 * 3600, 0.0, True),
                (3.0, 45, TCP, 3 * 3600, 0.0, False),
            ]
        ):
            ports = np.sort(rng.permutation(np.arange(1, 10000))[:n])
            h(
                vertical(
                    rng,
                    f"vscan-{i}",
                    self.at(hours),
                    self.one(self.attackers),
                    self.many(self.hosts, 1),
                    ports,
                    l4,
                    seconds,
                    opened,
                    refused,
                )
            )

    def logins(self) -> None:
        rng = self.rng
        # (start h, port, targets, attempts, seconds)
        for i, (hours, port, targets, attempts, seconds) in enumerate(
            [
                (1.1, 22, 1, 400, 1200),
                (2.4, 3389, 1, 60, 480),
                (3.3, 2323, 25, 75, 720),
                (4.6, 22, 1, 45, 720),
                (5.9, 21, 2, 120, 1800),
                (6.8, 445, 1, 90, 600),
                (7.3, 23, 1, 34, 480),  # just over the threshold
            ]
        ):
            self.add(
                brute_force(
                    rng,
                    f"brute-{i}",
                    self.at(hours),
                    self.one(self.attackers),
                    self.many(self.hosts, targets),
                    port,
                    attempts,
                    seconds,
                )
            )
        self.add(
            sip_brute_force(
                rng, "brute-sip", self.at(4.0), self.one(self.attackers), self.many(self.hosts, 1), 300, 600
            )
        )

    def beacons(self) -> None:
        rng = self.rng
        broadband = v4(BROADBAND + rng.integers(0, 4096, 8))
        # (start h, hosts, port, period, jitter, hours)
        for i, (hours, hosts, port, period, jitter, length) in enumerate(
            [
                (0.4, broadband.take(np.array([0])), 443, 60, 0.1, 3.0),
                (1.5, broadband.take(np.array([1])), 8080, 300, 0.2, 5.0),
                (4.0, broadband.take(np.array([2, 3, 4])), 443, 30, 0.05, 2.0),
                (0.8, v4([CGNAT_POOL + 77]), 80, 600, 0.0, 6.5),
                (4.6, broadband.take(np.array([5])), 443, 180, 0.4, 3.0),  # heavy jitter
            ]
        ):
            self.add(
                beaconing(
                    rng, f"beacon-{i}", self.at(hours), hosts, self.one(self.c2s), port, period, jitter, length * 3600
                )
            )
        phone = v4([MOBILE + 4242])
        self.add(
            beaconing(
                rng,
                "beacon-mobile",
                self.at(2.5),
                phone,
                self.one(self.c2s),
                443,
                120,
                0.3,
                4 * 3600,
                gtp=(foreign(rng, 1, ROAMING)[0], PGW),
            )
        )
        c2v6 = Addresses.v6_from(V6_C2, [0x1337])
        host6 = Addresses.v6_from(V6_SUBSCRIBERS, [0xBEEF])
        self.add(beaconing(rng, "beacon-v6", self.at(0.2), host6, c2v6, 443, 900, 0.1, 7.5 * 3600))

    def floods(self) -> None:
        rng = self.rng
        self.add(
            udp_flood(
                rng, "ddos-udp", self.at(1.7), self.many(self.flooders, 200), self.many(self.hosts, 1), 27015, 400, 180
            )
        )
        self.add(  # just over the threshold: 25 sources, about 25,000 packets in two minutes
            udp_flood(
                rng, "ddos-udp-edge", self.at(7.1), self.many(self.flooders, 25), self.many(self.hosts, 1), 53, 1000, 90
            )
        )
        self.add(
            udp_flood(
                rng, "ddos-udp-few", self.at(5.0), self.many(self.flooders, 40), v4([WEB_SERVERS + 20]), 80, 2000, 300
            )
        )
        self.add(
            udp_flood(
                rng,
                "ddos-icmp",
                self.at(6.4),
                self.many(self.flooders, 60),
                self.many(self.hosts, 1),
                0,
                800,
                240,
                l4=ICMP,
            )
        )
        self.add(syn_flood(rng, "ddos-syn", self.at(3.6), v4([WEB_SERVERS + 30]), 443, 40_000, 120))
        # (start h, reflectors, port, packets each, sizes, seconds)
        for i, (hours, n, port, each, size, seconds) in enumerate(
            [
                (2.0, 60, 53, 250, (1200, 1400), 120),
                (3.9, 40, 123, 300, (440, 468), 180),
                (5.4, 10, 11211, 200, (1300, 1400), 60),
                (6.9, 100, 1900, 40, (280, 320), 120),
                (7.4, 8, 389, 100, (1380, 1400), 60),  # just over the threshold
            ]
        ):
            self.add(
                reflection(
                    rng,
                    f"reflect-{i}",
                    self.at(hours),
                    self.many(self.reflectors, n),
                    self.many(self.hosts, 1),
                    port,
                    each,
                    size,
                    seconds,
                )
            )
        victim = self.one(self.reflectors)
        amplifiers = v4(OPEN_RESOLVERS + np.arange(20))
        self.add(amplification(rng, "amplify-ours", self.at(4.8), victim, amplifiers, 53, 150, (900, 1000), 180))

    def indicators(self) -> list[dict[str, Any]]:
        """The partner's feed, and the scenario's flows toward indicated addresses that must be sighted."""
        rng = self.rng
        beacon = {a.name: a for a in self.attacks if a.kind == "beaconing"}
        feed = []
        for name in ("beacon-0", "beacon-1", "beacon-v6"):
            a = beacon[name]
            feed.append(_indicator(f"[{_type(a.subjects[0])}:value = '{a.subjects[0]}']", f"C2 of {name}", 85))
            self.events.append(_event(f"ioc-{name}", a.subjects, a.start_us, a.end_us))
        base = int(foreign(rng, 1, INDICATED)[0]) & ~0xFF
        block = v4(base + 1 + rng.permutation(254)[:30])
        clients = v4(CGNAT_POOL + rng.integers(0, 4096, 50))
        feed.append(_indicator(f"[ipv4-addr:value = '{_dotted(base)}/24']", "bulletproof hosting range", 70))
        self._visits("ioc-range", clients, block, 443, 200, 1.0, 6.0)
        port_host = self.one(iter(foreign(rng, 1, INDICATED).tolist()))
        feed.append(
            _indicator(
                f"[network-traffic:dst_ref.value = '{port_host.text()[0]}' AND network-traffic:dst_port = 8443]",
                "panel on 8443",
                60,
            )
        )
        self._visits("ioc-port", clients, port_host, 8443, 40, 2.0, 1.0)
        self._visits(None, clients, port_host, 443, 40, 5.5, 0.5)  # the same host on 443: no sighting
        revoked, expired = (self.one(iter(foreign(rng, 2, INDICATED).tolist())) for _ in range(2))
        feed.append(_indicator(f"[ipv4-addr:value = '{revoked.text()[0]}']", "withdrawn", 90, revoked=True))
        self._visits(None, clients, revoked, 443, 30, 3.0, 1.0)
        feed.append(
            _indicator(f"[ipv4-addr:value = '{expired.text()[0]}']", "old", 90, valid_until="2025-01-01T00:00:00Z")
        )
        self._visits(None, clients, expired, 443, 30, 3.5, 1.0)
        for address in foreign(rng, 40, INDICATED).tolist():
            feed.append(_indicator(f"[ipv4-addr:value = '{_dotted(address)}']", "never seen here", 50))
        feed.append(_indicator("[domain-name:value = 'c2.example.net']", "a name, not an address", 80))
        return feed

    def _visits(
        self,
        event: str | None,
        clients: Addresses,
        servers: Addresses,
        port: int,
        flows: int,
        hours: float,
        length: float,
    ) -> None:
        packets = visits(self.rng, self.at(hours), clients, servers, port, flows, length * 3600)
        self.extra.append(packets)
        if event is not None:
            self.events.append(_event(event, servers.text(), int(packets.ts.min()), int(packets.ts.max())))


def _dotted(value: int) -> str:
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


def _type(address: str) -> str:
    return "ipv6-addr" if ":" in address else "ipv4-addr"


def _event(name: str, subjects: list[str], start: int, end: int) -> dict[str, Any]:
    return {
        "id": name,
        "kind": "indicator-match",
        "subjects": subjects,
        "start_us": start,
        "end_us": end,
        "intensity": {},
    }


def _indicator(
    pattern: str, name: str, confidence: int, *, revoked: bool = False, valid_until: str | None = None
) -> dict[str, Any]:
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(NAMESPACE, pattern)}",
        "created": "2025-05-01T00:00:00.000Z",
        "modified": "2025-05-01T00:00:00.000Z",
        "name": name,
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2024-06-01T00:00:00Z",
        "confidence": confidence,
    }
    if revoked:
        indicator["revoked"] = True
    if valid_until is not None:
        indicator["valid_until"] = valid_until
    return indicator


def site_policy(out: Path, rng: np.random.Generator) -> None:
    (out / "bench-key.hex").write_text(rng.bytes(32).hex() + "\n")
    prefixes = ", ".join(DOMESTIC_PREFIXES)
    (out / "site.yaml").write_text(
        "# The bench carrier (make_scenarios.py): jp-acd, domestic space as in _addresses.py.\n"
        "extends: jp-acd\n"
        "name: bench-carrier\n"
        f"domestic:\n  prefixes: [{prefixes}]\n"
        "keys:\n  - id: kbench\n    file: bench-key.hex\n    valid_from: 2025-01-01T00:00:00Z\n"
        "approvals:\n"
        "  - id: OC-BENCH-1\n"
        "    issued_by: Cyber Communications Information Oversight Committee\n"
        "    classes: [foreign-to-domestic, domestic-to-foreign]\n"
        '    scope: [0.0.0.0/0, "::/0"]\n'
        "    valid_from: 2025-01-01T00:00:00Z\n"
        "    valid_until: 2030-12-31T00:00:00Z\n"
        "    purpose: measure the detectors\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output directory (default {OUT})")
    parser.add_argument("--benign-flows", type=int, default=1_000_000, help="flows in benign.pcap (default 1,000,000)")
    parser.add_argument("--benign-hours", type=float, default=6.0, help="span of benign.pcap (default 6)")
    parser.add_argument("--background-flows", type=int, default=250_000, help="benign flows under the attacks")
    parser.add_argument("--seed", type=int, default=20250602)
    parser.add_argument("--skip-benign", action="store_true", help="write the scenario only")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    site_policy(out, rng)
    scenario = Scenario(rng)
    scenario.scans()
    scenario.logins()
    scenario.beacons()
    scenario.floods()
    feed = scenario.indicators()
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid5(NAMESPACE, 'feed')}", "objects": feed}
    (out / "indicators.json").write_text(json.dumps(bundle, indent=1) + "\n")
    background = benign(rng, args.background_flows, 8 * 3600, T0)
    packets = Packets.concat([background, *scenario.extra, *(a.packets for a in scenario.attacks)])
    size = write_pcap(out / "scenario.pcap", packets)
    with (out / "labels.jsonl").open("w") as handle:
        for item in [a.label() for a in scenario.attacks] + scenario.events:
            handle.write(json.dumps(item) + "\n")
    print(
        f"wrote {out / 'scenario.pcap'}: {len(packets):,} packets, {size / 1e6:,.1f} MB; "
        f"{len(scenario.attacks)} attacks and {len(scenario.events)} indicator events labelled"
    )
    if not args.skip_benign:
        quiet = benign(np.random.default_rng(args.seed + 1), args.benign_flows, args.benign_hours * 3600, T0)
        size = write_pcap(out / "benign.pcap", quiet)
        print(f"wrote {out / 'benign.pcap'}: {len(quiet):,} packets, {size / 1e6:,.1f} MB")
    print(f"in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
