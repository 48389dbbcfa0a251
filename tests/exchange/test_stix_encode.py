"""Our encoder writes exactly the bytes stix2 writes for the objects packaging builds."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange._stix import dumps, encode

IDENTITY = "identity--adf1d952-55f2-5550-844e-ff3210d786a3"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"


def stix2_encode(properties: dict[str, Any]) -> bytes:
    import stix2

    cls = {"indicator": stix2.v21.Indicator, "sighting": stix2.v21.Sighting, "identity": stix2.v21.Identity}
    custom = any(name.startswith("x_") for name in properties)
    obj = cls[properties["type"]](allow_custom=custom, **{k: v for k, v in properties.items() if k != "type"})
    return dumps(json.loads(obj.serialize()))


stamps = st.builds(
    lambda day, second, micro: f"2025-03-{day:02d}T12:{second // 60:02d}:{second % 60:02d}.{micro:06d}Z"[
        : (23 if micro % 1000 == 0 else 26)
    ]
    + "Z",
    st.integers(1, 9),
    st.integers(0, 3599),
    st.sampled_from([0, 1000, 250_000, 500_000, 123_000, 999_000, 123_456]),
).map(lambda s: s.replace("ZZ", "Z"))


def _shuffled(draw: Any, props: dict[str, Any]) -> dict[str, Any]:
    keys = draw(st.permutations(list(props)))
    return {k: props[k] for k in keys}


@st.composite
def indicators(draw: Any) -> dict[str, Any]:
    created = draw(stamps)
    props: dict[str, Any] = {
        "type": "indicator",
        "id": "indicator--da4c5426-7cb3-5d27-9387-2aae532ba8ef",
        "created_by_ref": IDENTITY,
        "created": created,
        "modified": created,
        "name": "198.51.100.7 (src of tcp/22)",
        "description": "Network Service Discovery (T1046)",
        "indicator_types": ["anomalous-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2025-03-01T00:00:00.000Z",
        "valid_until": draw(stamps),
        "confidence": draw(st.integers(0, 100)),
        "external_references": [
            {"external_id": "T1046", "url": "https://attack.mitre.org/techniques/T1046/", "source_name": "mitre-attack"}
        ],
        "object_marking_refs": [AMBER],
    }
    if draw(st.booleans()):
        props["kill_chain_phases"] = [{"phase_name": "discovery", "kill_chain_name": "mitre-attack"}]
    if draw(st.booleans()):
        props["revoked"] = True
    return _shuffled(draw, props)


@st.composite
def sightings(draw: Any) -> dict[str, Any]:
    created = draw(stamps)
    props: dict[str, Any] = {
        "type": "sighting",
        "id": "sighting--8ca56aa2-8c58-5ae5-b66f-7ad3303f1310",
        "created_by_ref": IDENTITY,
        "created": created,
        "modified": created,
        "first_seen": "2025-03-01T00:00:00.000Z",
        "last_seen": draw(stamps),
        "count": draw(st.integers(0, 999_999_999)),
        "sighting_of_ref": "indicator--da4c5426-7cb3-5d27-9387-2aae532ba8ef",
        "where_sighted_refs": [IDENTITY],
        "confidence": 80,
        "object_marking_refs": [AMBER],
        "x_metagate_inside_parties_total": draw(st.integers(0, 10**6)),
    }
    if draw(st.booleans()):
        props["x_metagate_inside_parties"] = ["p-abc", "p-def"]
    return _shuffled(draw, props)


@st.composite
def identities(draw: Any) -> dict[str, Any]:
    created = draw(stamps)
    props: dict[str, Any] = {
        "type": "identity",
        "id": IDENTITY,
        "created": created,
        "modified": created,
        "name": draw(st.text(min_size=1, max_size=20)),
        "identity_class": "organization",
        "sectors": ["communications"],
    }
    if draw(st.booleans()):
        props["contact_information"] = "soc@example.org"
    return _shuffled(draw, props)


@settings(max_examples=150, deadline=None)
@given(st.one_of(indicators(), sightings(), identities()))
def test_the_bytes_are_stix2s(properties: dict[str, Any]) -> None:
    assert encode(dict(properties)) == stix2_encode(dict(properties))
