"""TLP 2.0 marking definitions: the OASIS objects, valid, read back from markings."""

from __future__ import annotations

import json

import pytest

from exchange import MARKING_IDS, StixValidator, level_of, marking_definition, parse_level
from exchange._tlp import marking_json, stricter
from policies import Tlp

OASIS_AMBER = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:AMBER",
    "extensions": {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension",
            "tlp_2_0": "amber",
        }
    },
}


def test_the_oasis_ids_and_objects() -> None:
    assert MARKING_IDS[Tlp.CLEAR] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    assert MARKING_IDS[Tlp.GREEN] == "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    assert MARKING_IDS[Tlp.AMBER_STRICT] == "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    assert MARKING_IDS[Tlp.RED] == "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
    assert marking_definition(Tlp.AMBER) == OASIS_AMBER
    assert marking_definition(Tlp.AMBER_STRICT)["name"] == "TLP:AMBER+STRICT"
    assert json.loads(marking_json(Tlp.RED)) == marking_definition(Tlp.RED)


@pytest.mark.parametrize("level", list(Tlp))
def test_every_marking_passes_the_validator(level: Tlp) -> None:
    assert StixValidator().verdict(marking_definition(level)).valid


def test_levels_read_back_from_2_0_and_1_0_ids() -> None:
    assert level_of([MARKING_IDS[Tlp.GREEN], MARKING_IDS[Tlp.AMBER]]) is Tlp.AMBER
    assert level_of(["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]) is Tlp.CLEAR  # TLP 1.0 white
    assert level_of(["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"]) is Tlp.RED  # TLP 1.0 red
    assert level_of(["marking-definition--00000000-0000-4000-8000-000000000000"]) is None
    assert stricter(Tlp.GREEN, Tlp.AMBER_STRICT, Tlp.AMBER) is Tlp.AMBER_STRICT
    assert parse_level("TLP:AMBER+STRICT") is Tlp.AMBER_STRICT
    with pytest.raises(ValueError, match=r"not a TLP 2\.0 level"):
        parse_level("white")
