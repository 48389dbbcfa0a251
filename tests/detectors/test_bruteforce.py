"""Brute force: many short login sessions from one outside source, and what is not that."""

from __future__ import annotations

from typing import Any

from detectors import FindingKind, Role
from tests.detectors.gated import detect, gated, only, probe, session

ATTACKER = "198.51.100.66"


def _login(target: str, t: float, port: int = 22, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"orig_pkts": 10, "resp_pkts": 9, "orig_ip_bytes": 1400, "resp_ip_bytes": 2600}
    values.update(fields)
    return session(ATTACKER, target, t=t, port=port, orig_port=40000 + int(t * 10) % 20000, **values)


def test_many_ssh_logins_from_one_source_fire() -> None:
    rows = [_login("192.0.2.10", t=i * 5.0) for i in range(40)]
    (finding,) = detect(gated(rows), only("brute_force"))
    assert finding.kind is FindingKind.BRUTE_FORCE and finding.technique == "T1110"
    assert finding.subject == (ATTACKER,) and finding.subject_role is Role.ATTACKER
    assert finding.counts["attempts"] == 40 and finding.targets == ("192.0.2.10",) and finding.ports == (22,)
    assert finding.details["uniformity"] == 1.0, "the same exchange every time"


def test_an_attack_across_windows_reports_each_attempt_once_and_no_trickle() -> None:
    rows = [_login("192.0.2.10", t=i * 10.0) for i in range(50)]  # 300 s windows: 30, then 20
    first, second = detect(gated(rows), only("brute_force"))
    assert (first.counts["attempts"], second.counts["attempts"]) == (30, 20)
    assert (first.details["continues"], second.details["continues"]) == (False, True)
    assert not set(first.evidence) & set(second.evidence)
    # ten more in the next window are under half the threshold: a trickle, not reported as more of it
    (only_first,) = detect(gated(rows[:40]), only("brute_force"))
    assert only_first.counts["attempts"] == 30


def test_password_spraying_over_many_targets_counts_together() -> None:
    rows = [_login(f"192.0.2.{i % 15 + 1}", t=i * 6.0, port=3389) for i in range(45)]
    (finding,) = detect(gated(rows), only("brute_force"))
    assert finding.counts["attempts"] == 45 and finding.target_total == 15


def test_near_misses_do_not_fire() -> None:
    # 29 logins: one short
    assert detect(gated([_login("192.0.2.10", t=i * 10.0) for i in range(29)]), only("brute_force")) == []
    # 40 long interactive sessions (an admin's day): not logins
    long = [_login("192.0.2.10", t=i * 5.0, seconds=600.0) for i in range(40)]
    assert detect(gated(long), only("brute_force")) == []
    # 40 large transfers (scp): not logins
    big = [_login("192.0.2.10", t=i * 5.0, orig_ip_bytes=2_000_000, orig_pkts=1500) for i in range(40)]
    assert detect(gated(big), only("brute_force")) == []
    # 40 unanswered SYNs to port 22: a scan, not brute force
    syns = [probe(ATTACKER, "192.0.2.10", t=i, port=22, orig_port=40000 + i) for i in range(40)]
    assert detect(gated(syns), only("brute_force")) == []
    # 40 short sessions to a web server: not an authentication service
    web = [_login("192.0.2.10", t=i * 5.0, port=443) for i in range(40)]
    assert detect(gated(web), only("brute_force")) == []
    # attempts spread so thinly that no two windows hold 30 of them
    thin = [_login("192.0.2.10", t=i * 60.0) for i in range(40)]
    assert detect(gated(thin), only("brute_force")) == []


def test_sip_over_udp_counts_every_request_of_one_flow() -> None:
    flow = session(
        ATTACKER,
        "192.0.2.20",
        port=5060,
        proto=17,
        orig_port=5070,
        seconds=300.0,
        orig_pkts=200,
        resp_pkts=200,
        orig_ip_bytes=200 * 480,
        resp_ip_bytes=200 * 420,
        conn_state="SF",
        history="Dd",
    )
    (finding,) = detect(gated([flow]), only("brute_force"))
    assert finding.counts["attempts"] == 200 and finding.protocols == ("udp",) and finding.evidence_total == 1


def test_configured_services_and_threshold() -> None:
    rows = [_login("192.0.2.10", t=i * 10.0, port=2222) for i in range(12)]
    assert detect(gated(rows), only("brute_force")) == []
    (finding,) = detect(gated(rows), only("brute_force", services=["tcp/2222"], min_attempts=10))
    assert finding.ports == (2222,)
