"""Findings into STIX under the partner agreement: patterns, ids, versions, and every refusal's clause."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detectors import FindingKind, IndicatorSet, Role
from exchange import MARKING_IDS, Outcome, Packager, Queue, indicator_id
from policies import Policy, Tlp
from tests.exchange.conftest import AGREEMENT, Clock, exchange_config, finding, site_policy

SCAN_PATTERN = (
    "[network-traffic:src_ref.value = '198.51.100.1' AND network-traffic:dst_port = 22 AND "
    "network-traffic:protocols[*] = 'tcp']"
)


def objects_of(packager: Packager, queue: Queue, f: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Package one finding and queue it (as a run would); the decision and the objects as dicts."""
    decision, objects = packager.package(f)
    decision = queue.enqueue(decision, objects, actor="tester", approvals_required=1, summary="s", kind="k")
    return decision, [o.as_dict() for o in objects]


def test_a_scan_gives_an_indicator_and_a_sighting(packager: Packager, queue: Queue) -> None:
    decision, (indicator, sighting) = objects_of(packager, queue, finding(0))
    assert decision.outcome is Outcome.QUEUED and decision.item == 1 and not decision.notes
    assert indicator["id"] == indicator_id("us-partner", SCAN_PATTERN)
    assert indicator["pattern"] == SCAN_PATTERN and indicator["pattern_type"] == "stix"
    assert indicator["valid_from"] == "2025-03-01T12:00:00.25Z"  # stix2 writes it so
    assert indicator["valid_until"] == "2025-03-31T12:04:00.25Z"  # last seen + the agreement's 30 days
    assert indicator["confidence"] == 80 and indicator["indicator_types"] == ["anomalous-activity"]
    assert indicator["kill_chain_phases"] == [{"kill_chain_name": "mitre-attack", "phase_name": "discovery"}]
    assert indicator["external_references"][0]["external_id"] == "T1046"
    assert indicator["object_marking_refs"] == [MARKING_IDS[Tlp.AMBER]]
    assert indicator["created_by_ref"] == packager.identity_id == sighting["created_by_ref"]
    assert indicator["created"] == indicator["modified"] == "2025-03-02T09:00:01.000Z"
    assert sighting["sighting_of_ref"] == indicator["id"] and sighting["count"] == 31
    assert sighting["where_sighted_refs"] == [packager.identity_id]
    assert sighting["x_metagate_inside_parties_total"] == 31 and "x_metagate_inside_parties" not in sighting
    assert "57.12.1.7" not in json.dumps([indicator, sighting])  # domestic_addresses: never


def test_the_same_finding_again_queues_nothing(packager: Packager, queue: Queue) -> None:
    objects_of(packager, queue, finding(0))
    decision, objects = objects_of(packager, queue, finding(0))
    assert decision.outcome is Outcome.UNCHANGED and objects == [] and decision.item is None


def test_sharing_again_makes_a_new_version_of_the_same_object(packager: Packager, queue: Queue) -> None:
    _, (first, _) = objects_of(packager, queue, finding(0))
    later = finding(0, id="finding--later", first_seen=datetime(2025, 3, 5, tzinfo=UTC), confidence=95)
    decision, (second, sighting) = objects_of(packager, queue, later)
    assert second["id"] == first["id"] and second["created"] == first["created"]
    assert second["modified"] > first["modified"]
    assert second["confidence"] == 95 and second["valid_from"] == first["valid_from"]
    assert second["valid_until"] == "2025-04-04T00:04:00Z"
    assert sighting["id"] != decision.object_ids[0] and sighting["first_seen"] == "2025-03-05T00:00:00Z"
    # an older finding with lower confidence changes nothing: versions only grow
    decision, objects = objects_of(packager, queue, finding(0, id="finding--older", confidence=70))
    assert [o["type"] for o in objects] == ["sighting"]


def test_ids_differ_between_partners(tmp_path: Path, queue: Queue) -> None:
    other = {**AGREEMENT, "partner": "eu-partner"}
    policy = site_policy(tmp_path, other)
    config = exchange_config().model_copy(update={"partner": "eu-partner"})
    packager = Packager(policy, config, queue, clock=Clock())
    _, objects = packager.package(finding(0))
    assert objects[0].id == indicator_id("eu-partner", SCAN_PATTERN) != indicator_id("us-partner", SCAN_PATTERN)


@pytest.mark.parametrize(
    ("kind", "role", "ports", "protocols", "pattern"),
    [
        (
            FindingKind.BEACONING,
            Role.C2_SERVER,
            (443,),
            ("tcp",),
            "[network-traffic:dst_ref.value = '198.51.100.1' AND network-traffic:dst_port = 443 AND "
            "network-traffic:protocols[*] = 'tcp']",
        ),
        (
            FindingKind.REFLECTION,
            Role.REFLECTOR,
            (123,),
            ("udp",),
            "[network-traffic:src_ref.value = '198.51.100.1' AND network-traffic:src_port = 123 AND "
            "network-traffic:protocols[*] = 'udp']",
        ),
        (FindingKind.VERTICAL_SCAN, Role.SCANNER, (22, 80, 443), ("tcp",), "[ipv4-addr:value = '198.51.100.1']"),
    ],
)
def test_patterns_follow_what_the_subject_did(
    packager: Packager, kind: FindingKind, role: Role, ports: tuple[int, ...], protocols: tuple[str, ...], pattern: str
) -> None:
    _, objects = packager.package(finding(0, kind=kind, subject_role=role, ports=ports, protocols=protocols))
    assert objects[0].as_dict()["pattern"] == pattern


def test_ipv6_subjects(packager: Packager) -> None:
    _, objects = packager.package(finding(0, subject=("2001:DB8:F::7",), kind=FindingKind.VERTICAL_SCAN))
    assert objects[0].as_dict()["pattern"] == "[ipv6-addr:value = '2001:db8:f::7']"


def packager_for(tmp_path: Path, queue: Queue, tlp: Tlp = Tlp.AMBER, **agreement: Any) -> Packager:
    policy = site_policy(tmp_path, {**AGREEMENT, **agreement})
    return Packager(policy, exchange_config().model_copy(update={"tlp": tlp}), queue, clock=Clock())


def test_kinds_not_agreed_fall_back_to_the_address_or_refuse(tmp_path: Path, queue: Queue) -> None:
    _, objects = packager_for(tmp_path, queue, indicator_kinds=["ipv4-addr"]).package(finding(0))
    assert objects[0].as_dict()["pattern"] == "[ipv4-addr:value = '198.51.100.1']"
    decision, objects = packager_for(tmp_path, queue, indicator_kinds=["ipv6-addr"]).package(finding(0))
    assert decision.outcome is Outcome.REFUSED and objects == []
    assert decision.reason == (
        "us-partner:indicator_kinds: 198.51.100.1 needs network-traffic or ipv4-addr; agreed: ipv6-addr"
    )


def test_confidence_below_the_minimum_is_refused(packager: Packager) -> None:
    decision, objects = packager.package(finding(0, confidence=59))
    assert decision.outcome is Outcome.REFUSED and objects == []
    assert decision.reason == "us-partner:min_confidence=60: confidence 59 is below it"


def test_a_level_above_the_ceiling_is_refused(tmp_path: Path, queue: Queue) -> None:
    decision, _ = packager_for(tmp_path, queue, Tlp.RED).package(finding(0))
    assert decision.reason == "us-partner:tlp_ceiling=amber: marked TLP:RED, above it"
    decision, objects = packager_for(tmp_path, queue, Tlp.GREEN).package(finding(0))
    assert objects[0].as_dict()["object_marking_refs"] == [MARKING_IDS[Tlp.GREEN]]


def test_domestic_subjects_are_never_patterns(packager: Packager) -> None:
    decision, objects = packager.package(finding(0, subject=("192.0.2.9",)))
    assert (
        decision.outcome is Outcome.REFUSED
        and decision.reason == "us-partner:domestic_addresses=never: 192.0.2.9 is domestic"
    )
    decision, objects = packager.package(finding(0, subject=("198.51.100.1", "10.1.2.3", "h4-abcdef"), subject_total=3))
    assert decision.outcome is Outcome.QUEUED
    assert [n.clause for n in decision.notes] == ["exchange:addresses-in-clear", "us-partner:domestic_addresses=never"]
    text = b"".join(o.json for o in objects)
    assert b"10.1.2.3" not in text and b"h4-abcdef" not in text and "count" not in objects[1].as_dict()


def test_partner_pseudonyms_are_the_only_form_of_inside_parties(tmp_path: Path, queue: Queue) -> None:
    packager = packager_for(tmp_path, queue, domestic_addresses="partner-pseudonyms", pseudonym_key="k2025")
    decision, objects = packager.package(finding(0, subject=("198.51.100.1", "192.0.2.9"), subject_total=2))
    sighting = objects[1].as_dict()
    parties = sighting["x_metagate_inside_parties"]
    assert len(parties) == 3 and all(p.startswith("pp-") and len(p) == 29 for p in parties)
    text = b"".join(o.json for o in objects)
    assert b"57.12.1.7" not in text and b"192.0.2.9" not in text
    assert "sent only as a partner pseudonym" in decision.reason
    again = packager_for(tmp_path, queue, domestic_addresses="partner-pseudonyms", pseudonym_key="k2025")
    assert again.view.pseudonyms is not None and again.view.pseudonyms("57.12.1.7") in parties  # stable
    other = packager_for(tmp_path, queue, domestic_addresses="partner-pseudonyms", pseudonym_key="k2024")
    assert other.view.pseudonyms is not None and other.view.pseudonyms("57.12.1.7") not in parties  # keyed


def test_victims_and_pseudonymized_profiles_are_refused(packager: Packager, policy: Policy, queue: Queue) -> None:
    decision, _ = packager.package(finding(0, kind=FindingKind.REFLECTION, subject_role=Role.VICTIM))
    assert decision.notes[0].clause == "exchange:victims-are-not-indicators"
    from policies import Pseudonymization, PseudonymScope

    rule = Pseudonymization(addresses=PseudonymScope.ALL)
    every = policy.__class__(**{**policy.__dict__, "profile": policy.profile.model_copy(update={"pseudonymize": rule})})
    decision, _ = Packager(every, exchange_config(), queue, clock=Clock()).package(finding(0))
    assert decision.reason.startswith("jp-acd:pseudonymize.addresses=all: every address is a pseudonym")


def test_a_revoked_indicator_is_never_revived(packager: Packager, queue: Queue) -> None:
    decision, _ = objects_of(packager, queue, finding(0))
    assert decision.item is not None
    queue.auto_approve([decision.item], "tester")
    queue.conn.execute("UPDATE outbox SET state = 'delivered'")
    queue.conn.execute("UPDATE items SET state = 'published'")
    from exchange import StixValidator

    queue.revoke(decision.item, "analyst", "false positive", StixValidator())
    decision, objects = packager.package(finding(0, id="finding--again", confidence=99))
    assert decision.outcome is Outcome.REFUSED and objects == []
    assert decision.notes[0].clause == "exchange:revoked-is-final"


def test_sightings_of_the_partners_indicators_keep_its_marking(packager: Packager, queue: Queue) -> None:
    theirs = "indicator--2f6a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    match = finding(
        0,
        kind=FindingKind.INDICATOR_MATCH,
        technique="T1071",
        subject_role=Role.INDICATED,
        details={"indicator_id": theirs, "pattern": "[ipv4-addr:value = '198.51.100.1']"},
    )
    decision, objects = packager.package(match)  # not received: read as the unmarked level, amber+strict
    assert decision.reason == "us-partner:tlp_ceiling=amber: marked TLP:AMBER+STRICT, above it"
    queue.conn.execute(
        "INSERT INTO inbound VALUES "
        "('us-partner', ?, '2025-01-01T00:00:00.000Z', 0, 'indicator', 'green', 1, '{}', 'x')",
        (theirs,),
    )
    decision, objects = packager.package(match)
    (sighting,) = [o.as_dict() for o in objects]
    assert sighting["sighting_of_ref"] == theirs and sighting["object_marking_refs"] == [MARKING_IDS[Tlp.AMBER]]


def test_the_detectors_read_what_we_send(packager: Packager) -> None:
    """A metagate partner matches our indicators: the patterns are the forms detectors/_indicators.py reads."""
    shapes = [
        finding(0),
        finding(1, kind=FindingKind.BEACONING, subject_role=Role.C2_SERVER, ports=(443,)),
        finding(2, kind=FindingKind.VERTICAL_SCAN, ports=(1, 2)),
    ]
    sent = [o.as_dict() for f in shapes for o in packager.package(f)[1]]
    indicators = IndicatorSet.from_objects(sent)
    assert len(indicators) == 3 and not indicators.problems
    scan = indicators.indicators[[i.pattern for i in indicators.indicators].index(SCAN_PATTERN)]
    (alternative,) = scan.alternatives
    assert alternative.side.value == "orig" and alternative.resp_ports == frozenset({22})
    assert alternative.protocols == frozenset({6}) and scan.technique == "T1046"
    assert (
        scan.valid_until_us is not None
        and scan.valid_until_us > scan.valid_from_us + timedelta(days=29).total_seconds() * 1e6
    )
