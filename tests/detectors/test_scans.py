"""Horizontal and vertical scans: fast and slow, and the fan-outs that are no scans."""

from __future__ import annotations

from detectors import FindingKind, Role
from tests.detectors.gated import detect, gated, only, probe, session

SCANNER = "198.51.100.7"


def _hosts(n: int, base: str = "192.0.2.") -> list[str]:
    return [f"{base}{i}" for i in range(1, n + 1)]


def test_horizontal_scan_names_the_scanner_and_counts_the_targets() -> None:
    rows = [probe(SCANNER, host, t=i * 2.0, orig_port=40000 + i) for i, host in enumerate(_hosts(30))]
    (finding,) = detect(gated(rows), only("horizontal_scan"))
    assert finding.kind is FindingKind.HORIZONTAL_SCAN and finding.technique == "T1046"
    assert finding.subject == (SCANNER,) and finding.subject_role is Role.SCANNER
    assert finding.target_total == 30 and finding.counts["targets"] == 30 and finding.ports == (22,)
    assert finding.evidence_total == 30 and len(finding.evidence) == 30
    assert finding.details["tier"] == "fast"
    assert 50 <= finding.confidence <= 100


def test_horizontal_near_misses_do_not_fire() -> None:
    # one target short of the threshold
    few = [probe(SCANNER, host, t=i, orig_port=40000 + i) for i, host in enumerate(_hosts(24))]
    assert detect(gated(few), only("horizontal_scan")) == []
    # a mail provider delivering to 60 servers: answered, with data
    mail = [session(SCANNER, host, t=i, port=25, orig_port=40000 + i) for i, host in enumerate(_hosts(60))]
    assert detect(gated(mail), only("horizontal_scan")) == []
    # 30 destinations, but 30 different ports: no service repeats
    spread = [probe(SCANNER, host, t=i, port=1000 + i) for i, host in enumerate(_hosts(30))]
    assert detect(gated(spread), only("horizontal_scan")) == []
    # a subscriber of ours scanning abroad: the scanner is no outside party, nothing to report
    outward = [probe("192.0.2.9", f"198.51.100.{i}", t=i, orig_port=40000 + i) for i in range(1, 40)]
    assert detect(gated(outward), only("horizontal_scan")) == []


def test_half_answered_scan_fires_but_mostly_answered_fan_out_does_not() -> None:
    hosts = _hosts(40)
    half = [probe(SCANNER, h, t=i, orig_port=40000 + i) for i, h in enumerate(hosts[:25])]
    half += [session(SCANNER, h, t=30 + i, port=22, orig_port=41000 + i) for i, h in enumerate(hosts[25:])]
    (finding,) = detect(gated(half), only("horizontal_scan"))
    assert finding.details["probe_fraction"] == 25 / 40
    mostly = [probe(SCANNER, h, t=i, orig_port=40000 + i) for i, h in enumerate(hosts[:20])]
    mostly += [session(SCANNER, h, t=30 + i, port=22, orig_port=41000 + i) for i, h in enumerate(hosts[20:])]
    assert detect(gated(mostly), only("horizontal_scan")) == [], "20 probes of 40 is below 0.6"


def test_a_scan_across_a_window_edge_is_seen_whole() -> None:
    # 600 s windows from the epoch: T0 is on an edge; half the probes before it, half after
    rows = [probe(SCANNER, host, t=-60 + i * 4.0, orig_port=40000 + i) for i, host in enumerate(_hosts(30))]
    (finding,) = detect(gated(rows), only("horizontal_scan"))
    assert finding.target_total == 30


def test_a_long_scan_gives_one_finding_a_window_each_with_its_own_flows() -> None:
    # an hour of probes from T0 (a window edge): windows 0..5 of 100 targets each
    rows = [probe(SCANNER, f"10.0.{i // 250}.{i % 250 + 1}", t=i * 6.0, orig_port=30000 + i) for i in range(600)]
    findings = detect(gated(rows), only("horizontal_scan"))
    assert [f.target_total for f in findings] == [100] * 6
    assert [f.details["continues"] for f in findings] == [False] + [True] * 5
    evidence = [set(f.evidence) for f in findings]
    assert all(not (a & b) for i, a in enumerate(evidence) for b in evidence[i + 1 :])


def test_slow_horizontal_scan_over_hours_is_found_by_the_slow_tier_only() -> None:
    # one probe every five minutes for four hours: never 25 targets in 20 minutes
    rows = [probe(SCANNER, host, t=i * 300.0, port=23, orig_port=40000 + i) for i, host in enumerate(_hosts(48))]
    (finding,) = detect(gated(rows), only("horizontal_scan"))
    assert finding.details["tier"] == "slow" and finding.target_total == 48
    assert (finding.last_seen - finding.first_seen).total_seconds() > 3 * 3600
    slow_off = only("horizontal_scan", slow_window=0)
    assert detect(gated(rows), slow_off) == []


def test_a_fast_scan_is_not_reported_again_by_the_slow_tier() -> None:
    rows = [probe(SCANNER, host, t=i, orig_port=40000 + i) for i, host in enumerate(_hosts(60))]
    findings = detect(gated(rows), only("horizontal_scan"))
    assert [f.details["tier"] for f in findings] == ["fast"]


def test_icmp_sweep_is_one_service() -> None:
    rows = [
        probe(SCANNER, host, t=i, proto=1, orig_port=8, resp_port=0, conn_state="S0", history="")
        for i, host in enumerate(_hosts(30))
    ]
    (finding,) = detect(gated(rows), only("horizontal_scan"))
    assert finding.protocols == ("icmp",) and finding.ports == (8,)


def test_vertical_scan_counts_ports_on_one_host() -> None:
    refused = {"resp_pkts": 1, "resp_ip_bytes": 40, "conn_state": "REJ", "history": "Sr"}
    rows = [probe(SCANNER, "192.0.2.5", t=i, port=1000 + i, **refused) for i in range(30)]
    (finding,) = detect(gated(rows), only("vertical_scan"))
    assert finding.kind is FindingKind.VERTICAL_SCAN and finding.subject == (SCANNER,)
    assert finding.targets == ("192.0.2.5",) and len(finding.ports) == 30 and finding.counts["services"] == 30


def test_vertical_near_misses_do_not_fire() -> None:
    few = [probe(SCANNER, "192.0.2.5", t=i, port=1000 + i) for i in range(19)]
    assert detect(gated(few), only("vertical_scan")) == []
    # passive FTP or a game client: many ports on one host, every one answered with data
    data = [session(SCANNER, "192.0.2.5", t=i, port=50000 + i) for i in range(40)]
    assert detect(gated(data), only("vertical_scan")) == []


def test_slow_vertical_scan() -> None:
    rows = [probe(SCANNER, "192.0.2.5", t=i * 240.0, port=2000 + i) for i in range(45)]
    (finding,) = detect(gated(rows), only("vertical_scan"))
    assert finding.details["tier"] == "slow" and len(finding.ports) == 45
