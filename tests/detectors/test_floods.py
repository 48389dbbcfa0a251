"""Volumetric DDoS and reflection / amplification, and the busy services that are neither."""

from __future__ import annotations

from typing import Any

from detectors import FindingKind, Role
from tests.detectors.gated import detect, gated, gflow, only, probe

TARGET = "192.0.2.80"


def _udp(orig: str, resp: str, *, t: float = 0.0, seconds: float = 30.0, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "proto": 17, "orig_port": 40000, "resp_port": 27015, "seconds": seconds, "orig_pkts": 1000,
        "resp_pkts": 0, "orig_ip_bytes": 100_000, "resp_ip_bytes": 0, "orig_tcp_flags": 0, "resp_tcp_flags": 0,
        "history": "D", "conn_state": "S0", "end_reason": "idle",
    }  # fmt: skip
    values.update(fields)
    return gflow(orig, resp, t=t, **values)


def _sources(n: int) -> list[str]:
    return [f"198.51.100.{i}" for i in range(1, n + 1)]


def test_udp_flood_from_many_sources_fires_and_names_them() -> None:
    rows = [_udp(s, TARGET, t=i * 0.1) for i, s in enumerate(_sources(30))]
    (finding,) = detect(gated(rows), only("ddos"))
    assert finding.kind is FindingKind.DDOS and finding.technique == "T1498.001"
    assert finding.subject_role is Role.FLOOD_SOURCE and finding.subject_total == 30
    assert finding.targets == (TARGET,) and finding.counts["packets"] == 30_000
    assert finding.details["answer_ratio"] == 0.0


def test_spoofed_syn_flood_maps_to_os_exhaustion() -> None:
    rows = [probe(f"198.51.{i // 250}.{i % 250 + 1}", TARGET, t=i * 0.004, port=443) for i in range(25_000)]
    (finding,) = detect(gated(rows), only("ddos"))
    assert finding.technique == "T1499.001" and finding.details["packets_per_source"] == 1.0
    assert len(finding.subject) == 50 and finding.subject_total == 25_000, "subjects listed: max_listed"


def test_ddos_near_misses_do_not_fire() -> None:
    # a busy server: 30 clients, every packet answered
    answered = [_udp(s, TARGET, resp_pkts=900, resp_ip_bytes=90_000, conn_state="SF") for s in _sources(30)]
    assert detect(gated(answered), only("ddos")) == []
    # a heavy transfer from 19 sources: too few
    assert detect(gated([_udp(s, TARGET, orig_pkts=5000) for s in _sources(19)]), only("ddos")) == []
    # 30 sources, 19,500 packets: too few packets
    assert detect(gated([_udp(s, TARGET, orig_pkts=650) for s in _sources(30)]), only("ddos")) == []
    # the same 30,000 packets over half an hour (one long record each): spread over the windows, no burst
    slow = [_udp(s, TARGET, seconds=1800.0) for s in _sources(30)]
    assert detect(gated(slow), only("ddos")) == []


def test_ddos_leaves_reflected_traffic_to_the_reflection_detector() -> None:
    rows = [_udp(s, TARGET, orig_port=53, orig_ip_bytes=1_300_000) for s in _sources(30)]
    assert [f.kind for f in detect(gated(rows))] == [FindingKind.REFLECTION]
    # with reflection off, the flood detector reports it rather than nobody
    assert [f.kind for f in detect(gated(rows), only("ddos"))] == [FindingKind.DDOS]


def _dns(orig: str, resp: str, *, requests: int, responses: int, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "resp_port": 53,
        "orig_pkts": 100,
        "resp_pkts": 100,
        "orig_ip_bytes": requests,
        "resp_ip_bytes": responses,
        "conn_state": "SF",
    }
    values.update(fields)
    return _udp(orig, resp, **values)


def test_unsolicited_responses_from_reflectors_abroad_fire() -> None:
    rows = [
        _udp(s, TARGET, orig_port=123, resp_port=41000, orig_pkts=500, orig_ip_bytes=500 * 468, seconds=20.0)
        for s in _sources(12)
    ]
    (finding,) = detect(gated(rows), only("reflection"))
    assert finding.technique == "T1498.002" and finding.subject_role is Role.REFLECTOR
    assert finding.subject_total == 12 and finding.targets == (TARGET,) and finding.ports == (123,)
    assert finding.details["amplification"] is None, "no request was seen"


def test_our_open_resolvers_abused_against_a_victim_abroad_name_the_victim() -> None:
    victim = "198.51.100.99"
    rows = [_dns(victim, f"192.0.2.{i}", requests=150 * 64, responses=450 * 1000, orig_port=3074) for i in range(1, 11)]
    (finding,) = detect(gated(rows), only("reflection"))
    assert finding.subject == (victim,) and finding.subject_role is Role.VICTIM
    assert finding.target_total == 10
    assert finding.details["amplification"] == round((450 * 1000) / (150 * 64), 2)


def test_reflection_near_misses_do_not_fire() -> None:
    # a busy resolver of ours: answers three to five times the size of the queries
    resolver = [_dns("192.0.2.53", s, requests=100 * 70, responses=100 * 300) for s in _sources(60)]
    assert detect(gated(resolver), only("reflection")) == []
    # NTP peers: as much in as out
    ntp = [
        _dns(s, "192.0.2.123", requests=300_000, responses=300_000, orig_port=123, resp_port=123) for s in _sources(40)
    ]
    assert detect(gated(ntp), only("reflection")) == []
    # unsolicited, large, but from four reflectors only
    few = [_udp(s, TARGET, orig_port=53, orig_ip_bytes=1_000_000) for s in _sources(4)]
    assert detect(gated(few), only("reflection")) == []
    # a dozen reflectors, but under a megabyte
    small = [_udp(s, TARGET, orig_port=53, orig_ip_bytes=80_000) for s in _sources(12)]
    assert detect(gated(small), only("reflection")) == []
