"""TLP 2.0 marking definitions: the OASIS objects, their order, and reading a marking back.

``stix2`` 3.0 ships only the TLP 1.0 constants, so the five TLP 2.0 marking definitions are
written here exactly as OASIS publishes them (cti-stix-common-objects, extension definition
``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``, property ``tlp_2_0``, created
2022-10-01). They are sent to the partner with the data that references them.

Levels are ordered from the least to the most restrictive: CLEAR < GREEN < AMBER <
AMBER+STRICT < RED. An agreement's ``tlp_ceiling`` is the most restrictive level it lets us
send; an inbound object is held at its own level. An object marked with TLP 1.0 ids is read
at the matching 2.0 level (WHITE as CLEAR); an object with no TLP marking at all gets the
level configured for unmarked objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from policies import Tlp

TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_CREATED = "2022-10-01T00:00:00.000Z"

ORDER: tuple[Tlp, ...] = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)

MARKING_IDS: dict[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# TLP 1.0 (STIX 2.1 section 7.2.1.4), read as the 2.0 level it became
_TLP1_IDS: dict[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # white
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
_BY_ID: dict[str, Tlp] = {**{v: k for k, v in MARKING_IDS.items()}, **_TLP1_IDS}


def rank(level: Tlp) -> int:
    """0 for CLEAR up to 4 for RED."""
    return ORDER.index(level)


def stricter(*levels: Tlp) -> Tlp:
    """The most restrictive of the levels given."""
    return max(levels, key=rank)


def marking_definition(level: Tlp) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking definition object of ``level``, as a JSON-ready dict."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": MARKING_IDS[level],
        "created": TLP_CREATED,
        "name": f"TLP:{level.value.upper()}",
        "extensions": {TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level.value}},
    }


def marking_json(level: Tlp) -> bytes:
    """The marking definition as the bytes that are sent (keys in a fixed order)."""
    return json.dumps(marking_definition(level), separators=(",", ":"), ensure_ascii=False).encode()


def level_of(marking_refs: Iterable[str]) -> Tlp | None:
    """The most restrictive TLP level among an object's marking references; None when it has none."""
    found = [_BY_ID[ref] for ref in marking_refs if ref in _BY_ID]
    return stricter(*found) if found else None


def parse_level(text: str) -> Tlp:
    """``amber``, ``TLP:AMBER`` or ``amber+strict`` as a level; ValueError otherwise."""
    name = text.strip().lower().removeprefix("tlp:")
    try:
        return Tlp(name)
    except ValueError:
        raise ValueError(f"not a TLP 2.0 level: {text!r} (clear, green, amber, amber+strict, red)") from None
