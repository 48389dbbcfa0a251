"""Beaconing: regular connections from inside to one outside endpoint, period and regularity."""

from __future__ import annotations

import random

import pytest

from detectors import FindingKind, Role
from tests.detectors.gated import detect, gated, only, session

HOST, C2 = "192.0.2.44", "198.51.100.200"


def _beats(times: list[float], host: str = HOST, c2: str = C2, port: int = 443, **fields: object) -> list[dict]:
    return [session(host, c2, t=t, port=port, orig_port=40000 + i, **fields) for i, t in enumerate(times)]


def _jittered(period: float, jitter: float, n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += period * (1 - jitter * rng.random())
    return out


def test_regular_beacon_reports_the_c2_its_period_and_regularity() -> None:
    rows = _beats(_jittered(60.0, 0.2, 40))
    (finding,) = detect(gated(rows), only("beaconing"))
    assert finding.kind is FindingKind.BEACONING and finding.subject_role is Role.C2_SERVER
    assert finding.subject == (C2,) and finding.targets == (HOST,)
    assert finding.technique == "T1071.001", "HTTPS: web protocols"
    assert finding.details["period_s"] == pytest.approx(54.0, abs=3.0), "uniform in [48, 60]: median 54"
    assert 0.85 <= float(finding.details["regularity"]) <= 1.0  # type: ignore[arg-type]
    assert finding.counts["beats"] == 40


def test_several_inside_hosts_beaconing_to_one_c2_give_one_finding() -> None:
    rows = []
    for h in range(3):
        rows += _beats([h * 7.0 + t for t in _jittered(30.0, 0.1, 20, seed=h)], host=f"192.0.2.{50 + h}")
    (finding,) = detect(gated(rows), only("beaconing"))
    assert finding.counts["clients"] == 3 and finding.target_total == 3


def test_near_misses_do_not_fire() -> None:
    rng = random.Random(7)
    t, irregular = 0.0, []
    for _ in range(60):  # a person browsing: exponential gaps
        irregular.append(t)
        t += rng.expovariate(1 / 60)
    assert detect(gated(_beats(irregular)), only("beaconing")) == []
    # seven beats: one short
    assert detect(gated(_beats([i * 60.0 for i in range(7)])), only("beaconing")) == []
    # every 5 s: faster than any period looked for
    assert detect(gated(_beats([i * 5.0 for i in range(50)])), only("beaconing")) == []
    # NTP every 64 s is periodic by design
    ntp = _beats([i * 64.0 for i in range(40)], port=123, proto=17, conn_state="SF", history="Dd")
    assert detect(gated(ntp), only("beaconing")) == []
    # a server abroad that reaches us: no inside originator beaconing out
    inbound = [session(C2, HOST, t=i * 60.0, orig_port=40000 + i) for i in range(30)]
    assert detect(gated(inbound), only("beaconing")) == []


def test_a_popular_endpoint_is_a_service_not_a_controller() -> None:
    rows = []
    for h in range(25):  # 25 phones polling one push gateway every ten minutes
        rows += _beats([h * 11.0 + i * 600.0 for i in range(10)], host=f"10.1.0.{h + 1}")
    assert detect(gated(rows), only("beaconing")) == []
    assert len(detect(gated(rows), only("beaconing", max_clients=30))) == 1


def test_connections_opened_together_are_one_beat() -> None:
    times = [t + d for t in (i * 120.0 for i in range(12)) for d in (0.0, 0.3)]
    (finding,) = detect(gated(_beats(times)), only("beaconing"))
    assert finding.details["beats"] == 12 and finding.details["period_s"] == 120.0
    assert finding.evidence_total == 24


def test_missed_beats_do_not_hide_the_period() -> None:
    times = [i * 90.0 for i in range(30) if i not in (5, 6, 17)]
    (finding,) = detect(gated(_beats(times)), only("beaconing"))
    assert finding.details["period_s"] == 90.0
