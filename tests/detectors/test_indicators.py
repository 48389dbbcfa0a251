"""The partner's STIX indicators: what is read, what is skipped and why, what a flow must show to match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detectors import FindingKind, IndicatorError, IndicatorSet, Role, load_indicators
from tests.detectors.gated import at, detect, gated, only, session

C2, HOST = "198.51.100.9", "192.0.2.44"
V6 = "2606:4700::6810:85e5"


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    number = abs(hash(pattern)) % 10**12
    body = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    }
    body.update(extra)
    return body


def feed(*objects: dict[str, Any]) -> IndicatorSet:
    return IndicatorSet.from_objects(list(objects), source="feed.json")


def sightings(table_rows: list[dict[str, Any]], indicators: IndicatorSet) -> list[Any]:
    return detect(gated(table_rows), only("indicators"), indicators)


def test_every_flow_touching_an_indicated_address_is_a_sighting() -> None:
    ind = indicator(
        f"[ipv4-addr:value = '{C2}']",
        confidence=80,
        name="C2",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1071.001"}],
    )
    rows = [session(HOST, C2, t=i * 60.0, orig_port=40000 + i) for i in range(5)]
    rows += [session(HOST, "198.51.100.10", t=30.0)]
    (finding,) = sightings(rows, feed(ind))
    assert finding.kind is FindingKind.INDICATOR_MATCH and finding.subject_role is Role.INDICATED
    assert finding.subject == (C2,) and finding.targets == (HOST,)
    assert finding.counts["flows"] == 5 and finding.evidence_total == 5
    assert finding.first_seen == at(0) and finding.last_seen == at(242)
    assert finding.confidence == 80 and finding.technique == "T1071.001"
    assert finding.details["indicator_id"] == ind["id"]


def test_prefixes_ipv6_and_either_direction() -> None:
    indicators = feed(indicator("[ipv4-addr:value = '198.51.100.0/24']"), indicator(f"[ipv6-addr:value = '{V6}']"))
    rows = [
        session(HOST, "198.51.100.1", t=0.0),
        session("198.51.100.200", HOST, t=10.0),  # inbound: the originator is the indicated one
        session("2001:db8:a::5", V6, t=20.0),
        session(HOST, "203.0.113.9", t=30.0),  # domestic: never a sighting
    ]
    found = sightings(rows, indicators)
    assert sorted(f.subject for f in found) == [("198.51.100.1", "198.51.100.200"), (V6,)]


def test_port_and_direction_qualified_patterns() -> None:
    pattern = f"[network-traffic:dst_ref.value = '{C2}' AND network-traffic:dst_port = 8443]"
    rows = [
        session(HOST, C2, t=0.0, port=8443),
        session(HOST, C2, t=10.0, port=443),
        session(C2, HOST, t=20.0, port=8443),  # C2 is the source here, not the destination
    ]
    (finding,) = sightings(rows, feed(indicator(pattern)))
    assert finding.counts["flows"] == 1 and finding.ports == (8443,)


def test_a_pseudonym_equal_to_an_indicated_address_is_no_sighting() -> None:
    # the gate may turn a subscriber into any address; the domestic side is never matched
    rows = [session("192.0.2.44", "203.0.113.5", t=0.0)]  # classed domestic-to-domestic here
    rows[0]["traffic_class"] = "domestic-to-foreign"
    rows += [session("198.51.100.50", "192.0.2.44", t=5.0)]  # 192.0.2.44 is the domestic side
    assert sightings(rows, feed(indicator("[ipv4-addr:value = '192.0.2.44']"))) == []


def test_validity_revocation_and_unsupported_patterns() -> None:
    rows = [session(HOST, C2, t=0.0)]
    expired = indicator(f"[ipv4-addr:value = '{C2}']", valid_until="2024-02-01T00:00:00Z")
    later = indicator(f"[ipv4-addr:value = '{C2}' ]", valid_from="2025-01-01T00:00:00Z")
    assert sightings(rows, feed(expired, later)) == [], "a flow counts while its indicator is valid"
    indicators = feed(
        indicator(f"[ipv4-addr:value = '{C2}']", revoked=True),
        indicator("[domain-name:value = 'evil.example']"),
        indicator(f"[ipv4-addr:value = '{C2}'] FOLLOWEDBY [ipv4-addr:value = '{HOST}']"),
        indicator("[ipv4-addr:value = 'not an address']"),
        indicator("[ipv4-addr:value = "),
        {"type": "indicator", "id": "indicator--broken"},
        {"type": "malware", "id": "malware--00000000-0000-4000-8000-000000000001", "name": "x"},
    )
    assert len(indicators) == 0
    reasons = [p.reason for p in indicators.problems]
    assert len(reasons) == 6, "the malware object is not an indicator: passed over"
    assert reasons[0] == "revoked"
    assert "domain-name:value is not flow metadata" in reasons[1]
    assert all(p.path == "feed.json" and p.object_id for p in indicators.problems)


def test_one_usable_branch_is_enough() -> None:
    mixed = indicator(f"[domain-name:value = 'evil.example'] OR [ipv4-addr:value = '{C2}']")
    (finding,) = sightings([session(HOST, C2)], feed(mixed))
    assert finding.subject == (C2,)


@pytest.mark.parametrize("form", ["bundle", "list", "lines"])
def test_files_in_every_form(tmp_path: Path, form: str) -> None:
    objects = [indicator(f"[ipv4-addr:value = '{C2}']"), indicator("[ipv4-addr:value = '198.51.100.1']")]
    path = tmp_path / "feed.json"
    if form == "bundle":
        path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
    elif form == "list":
        path.write_text(json.dumps(objects))
    else:
        path.write_text("\n".join(json.dumps(o) for o in objects) + "\n")
    assert len(load_indicators(path)) == 2


def test_unreadable_files_are_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(IndicatorError, match="cannot read"):
        load_indicators(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "indicator"}\nnot json\n')
    with pytest.raises(IndicatorError, match="line 2") as caught:
        load_indicators(bad)
    assert caught.value.path == str(bad)


@pytest.mark.parametrize(
    ("prefix", "hits"),
    [
        ("198.51.100.0/24", 2),
        ("198.51.0.0/16", 3),
        ("198.48.0.0/12", 4),
        ("198.0.0.0/8", 5),
        ("192.0.0.0/4", 6),
        ("0.0.0.0/0", 6),
        ("198.51.100.9/32", 1),
    ],
)
def test_prefixes_of_every_length(prefix: str, hits: int) -> None:
    servers = ["198.51.100.9", "198.51.100.200", "198.51.7.1", "198.60.1.1", "198.200.1.1", "203.0.1.1"]
    rows = [session(HOST, s, t=i * 10.0, orig_port=40000 + i) for i, s in enumerate(servers)]
    rows += [session("2001:db8:a::5", "2606:4700::1", t=70.0)]
    (finding,) = sightings(rows, feed(indicator(f"[ipv4-addr:value = '{prefix}']")))
    assert finding.counts["flows"] == hits


def test_ipv6_prefixes() -> None:
    rows = [session("2001:db8:a::5", "2606:4700::1", t=0.0), session("2001:db8:a::5", "2a00:1450::1", t=5.0)]
    rows += [session(HOST, "198.51.100.9", t=10.0)]
    (finding,) = sightings(rows, feed(indicator("[ipv6-addr:value = '2606:4700::/32']")))
    assert finding.subject == ("2606:4700::1",)
