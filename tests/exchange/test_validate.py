"""The prepared validator says exactly what stock stix2-validator says, object for object."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from detectors import FindingKind, Role
from exchange import MARKING_IDS, Packager, Queue, StixValidator, marking_definition
from exchange._fastcheck import fast_verdict
from policies import Tlp
from tests.exchange.conftest import finding

GOOD_INDICATOR: dict[str, Any] = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2025-03-01T12:00:00.000Z",
    "modified": "2025-03-01T12:00:00.000Z",
    "indicator_types": ["malicious-activity"],
    "pattern": "[network-traffic:src_ref.value = '198.51.100.7' AND network-traffic:dst_port = 22]",
    "pattern_type": "stix",
    "pattern_version": "2.1",
    "valid_from": "2025-03-01T12:00:00.000Z",
    "confidence": 70,
}


PATTERNS = [  # valid and broken patterns; several of one shape, so a memoized shape is put to the test
    "[ipv4-addr:value = '198.51.100.7']",
    "[ipv4-addr:value = '203.0.113.9']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[network-traffic:src_ref.value = '198.51.100.7' AND network-traffic:dst_port = 22 AND "
    "network-traffic:protocols[*] = 'tcp']",
    "[network-traffic:src_ref.value = '198.51.100.8' AND network-traffic:dst_port = 22 AND "
    "network-traffic:protocols[*] = 'udp']",
    "[ipv4-addr:value IN ('198.51.100.7', '198.51.100.8')]",
    "[ipv4-addr:value = '198.51.100.7' AND]",
    "[ipv4-addr:value = '198.51.100.7'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
    "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
    "[file:hashes.MD5 = 'not-a-hash']",
    "[x-custom:value = 'a']",
    "[network-traffic:start = t'2025-01-01T00:00:00Z']",
    "[ipv4-addr:value = 'it\\'s']",
]


def corpus() -> list[dict[str, Any]]:
    """Good objects, and objects each broken in one way the validator must catch."""
    broken_pattern = {**GOOD_INDICATOR, "pattern": "[ipv4-addr:value = '198.51.100.7'"}
    bad_property = {**GOOD_INDICATOR, "pattern": "[network-traffic:nonsense_prop = 1]"}
    return [
        GOOD_INDICATOR,
        {**GOOD_INDICATOR, "id": "indicator--not-a-uuid"},
        {**GOOD_INDICATOR, "confidence": 101},
        {**GOOD_INDICATOR, "modified": "2025-02-01T00:00:00.000Z"},  # modified before created
        {**GOOD_INDICATOR, "valid_from": "yesterday"},
        broken_pattern,
        broken_pattern,  # the same broken pattern twice: a memoized answer must be the same answer
        bad_property,
        {**GOOD_INDICATOR, "x_metagate_inside_parties_total": 3},
        {k: v for k, v in GOOD_INDICATOR.items() if k != "pattern"},
        marking_definition(Tlp.AMBER),
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": "sighting--7e1c0f0e-6c2a-4f0e-9f43-3f0d7c9c1d4e",
            "created": "2025-03-01T12:00:00.000Z",
            "modified": "2025-03-01T12:00:00.000Z",
            "sighting_of_ref": GOOD_INDICATOR["id"],
            "count": 1_000_000_000,
        },
    ] + [
        {**GOOD_INDICATOR, "id": f"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3c{n:03d}", "pattern": p}
        for n, p in enumerate(PATTERNS)
    ]


STOCK = """
import json, sys
from stix2validator import ValidationOptions, validate_instance
out = []
for obj in json.load(sys.stdin):
    r = validate_instance(obj, ValidationOptions())
    out.append([[str(e) for e in r.errors], [str(w) for w in r.warnings]])
print(json.dumps(out))
"""


def test_verdicts_and_messages_equal_the_stock_validator() -> None:
    objects = corpus()
    done = subprocess.run(
        [sys.executable, "-c", STOCK],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    stock = json.loads(done.stdout)
    validator = StixValidator()
    mine = [[list(v.errors), list(v.warnings)] for v in map(validator.verdict, objects)]
    assert mine == stock
    valid = [not errors for errors, _ in mine]
    # a custom observable property is allowed in the default mode; the rest of the broken ones are not
    assert valid[:12] == [True, False, False, False, False, False, False, True, True, False, True, False]
    assert valid[12:] == [True, True, True, True, True, True, False, False, True, False, True, True, True]


def test_stix2_builds_indicators_with_the_same_pattern_check() -> None:
    import stix2
    import stix2.exceptions

    StixValidator()
    stix2.v21.Indicator(
        pattern="[ipv4-addr:value = '198.51.100.77']", pattern_type="stix", valid_from="2025-01-01T00:00:00Z"
    )
    try:
        stix2.v21.Indicator(pattern="[ipv4-addr:value = '198.51.100.77' AND]", pattern_type="stix")
    except stix2.exceptions.InvalidValueError as exc:
        assert "pattern" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a broken pattern was accepted")


def test_check_names_the_object_and_its_errors() -> None:
    from exchange import StixInvalid

    validator = StixValidator()
    bad = {**GOOD_INDICATOR, "confidence": 101}
    try:
        validator.check(bad, partner="us-partner")
    except StixInvalid as exc:
        assert exc.object_id == GOOD_INDICATOR["id"] and exc.partner == "us-partner"
        assert "101 is greater than the maximum of 100" in str(exc) and "partner us-partner" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an invalid object passed")
    assert not validator.verdict({"no": "id"}).valid


def packaged(packager: Packager, queue: Queue) -> list[dict[str, Any]]:
    """What packaging emits: our identity, indicators of each pattern kind, sightings, a revocation."""
    findings = [
        finding(0),
        finding(1, ports=(53, 123)),  # several services: a plain address pattern
        finding(2, subject=("2001:db8:ffff::7",)),
        finding(3, kind=FindingKind.BEACONING, technique="T1071.001", subject_role=Role.C2_SERVER, ports=(443,)),
        finding(4, kind=FindingKind.REFLECTION, technique="T1498", subject_role=Role.REFLECTOR, protocols=("udp",)),
    ]
    objects = [packager.identity().as_dict()]
    for f in findings:
        decision, made = packager.package(f)
        queue.enqueue(decision, made, actor="tester", approvals_required=1, summary="s", kind="k")
        objects += [o.as_dict() for o in made]
    return objects


def mutations(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """``obj`` broken, or merely changed, one property at a time."""
    values: list[Any] = [
        None, 0, -1, 101, 10**10, True, "", "x", [], [1], {}, "2025-02-30T00:00:00Z", "2025-03-01T12:00:60Z",
        "2025-03-01T12:00:00.5Z", "2025-03-01 12:00:00Z", "2000-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z",
        "2025-03-01T12:00:00.1234567Z", "2025-03-01T24:00:00Z", "2025-03-01T12:00:0\u0665Z", "2025-03-01T12:00:00.000",
        "Malicious Activity", ["Malicious Activity"], ["bogus-type"], ["malicious-activity", "malicious-activity"],
        "identity--ADF1D952-55F2-5550-844E-FF3210D786A3", "indicator--8e2e2d2b-17d4-1cbf-938f-98ee46b3cd3f",
        ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
        "[ipv4-addr:value = '198.51.100.7'", "[x-custom:value = 'a']", "[network-traffic:nonsense = 1]",
        [{"kill_chain_name": "mitre-attack", "phase_name": "Discovery"}],
        [{"source_name": "capec", "external_id": "T1046", "url": "https://attack.mitre.org/x/"}],
    ]
    out: list[dict[str, Any]] = []
    for name in obj:
        out.append({k: v for k, v in obj.items() if k != name})
        out += [{**obj, name: value} for value in values]
    out += [{**obj, "labels": ["a"]}, {**obj, "x_other": 1}, {**obj, "foo": 1}, {**obj, "spec_version": "2.0"}]
    return out


STOCK_OR_RAISED = """
import json, sys
from stix2validator import ValidationOptions, validate_instance
out = []
for obj in json.load(sys.stdin):
    try:
        r = validate_instance(obj, ValidationOptions())
    except Exception as exc:
        out.append(["raised"])
    else:
        out.append([[str(e) for e in r.errors], [str(w) for w in r.warnings]])
print(json.dumps(out))
"""


def test_the_fast_path_says_what_the_stock_validator_says(packager: Packager, queue: Queue) -> None:
    base = packaged(packager, queue)
    assert {o["type"] for o in base} == {"identity", "indicator", "sighting"}
    validator = StixValidator()
    markings = frozenset(MARKING_IDS.values())
    assert all(fast_verdict(o, markings) is not None for o in base)  # our own shapes take the fast path
    objects = base + [m for o in base for m in mutations(o)]
    done = subprocess.run(
        [sys.executable, "-c", STOCK_OR_RAISED], input=json.dumps(objects), capture_output=True, text=True,
        check=True, timeout=600,
    )
    stock = json.loads(done.stdout)
    # where the fast path answers, its answer is stock's: valid, with the same warnings, in order;
    # everywhere else the stock validator itself answered, so there is nothing to compare
    fast = [(o, fast_verdict(o, markings), s) for o, s in zip(objects, stock, strict=True)]
    taken = [(o, warnings, s) for o, warnings, s in fast if warnings is not None]
    wrong = [(o, warnings, s) for o, warnings, s in taken if s != [[], list(warnings or ())]]
    assert not wrong, wrong[:3]
    assert [validator.verdict(o).warnings for o, _, _ in taken] == [w for _, w, _ in taken]
    assert len(taken) > len(base) + 50  # changes the fast path vouches for are checked too, not only the base
    assert sum(1 for s in stock if s != ["raised"] and s[0]) > 300  # and the broken ones are many
