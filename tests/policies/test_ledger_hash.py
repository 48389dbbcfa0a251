"""The hash an append computes from the payload's canonical text is the hash the format defines."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policies import Ledger, PolicyError, public_key_id, verify_ledger
from policies._ledger_format import GENESIS_HASH, canonical_json, entry_hash, hash_of_text


class Colour(StrEnum):
    RED = "red"


PAYLOADS: list[dict[str, Any]] = [
    {},
    {"z": 1, "a": [True, False, None, -(2**53 - 1)], "m": {"é": "\u2028\x00\"\\", "b": ()}},
    {"nested": [{"k": [1, [2, {"x": "y"}]]}], "tuple": (1, "two"), "enum": Colour.RED},
    {"text": "日本語 \ud7ff \U0001f600", "zero": 0, "seq": "not the entry's", "payload": {"payload": 1}},
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("actor", ["metagate", "ユーザー", 'o"brien\\x'])
def test_the_hash_of_the_text_is_the_hash_of_the_entry(payload: dict[str, Any], actor: str) -> None:
    text = canonical_json(payload).decode()
    at = "2025-01-31T12:00:00.000000Z"
    for seq, prev in ((1, GENESIS_HASH), (10**9, "ab" * 32)):
        assert hash_of_text(seq, at, "review.queue", actor, text, prev) == entry_hash(
            seq, at, "review.queue", actor, payload, prev
        )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"a": [1, {"b": 1.5}]}, "payload.a[1].b"),
        ({"a": {1: "x"}}, "payload.a"),
        ({"n": [2**53]}, "payload.n[0]"),
        ({"o": {"p": object()}}, "payload.o.p"),
    ],
)
def test_what_is_no_json_value_is_refused_by_its_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        canonical_json(payload)
    assert caught.value.field == field


def test_entries_appended_in_a_batch_verify(tmp_path: Path) -> None:
    signer = Ed25519PrivateKey.generate()
    with Ledger(tmp_path / "ledger.sqlite", signer) as ledger:
        made = ledger.append_many([("review.queue", "alice", p) for p in PAYLOADS])
        assert [e.hash for e in made] == [
            entry_hash(e.seq, e.at, e.kind, e.actor, e.payload, e.prev_hash) for e in made
        ]
    key = signer.public_key()
    result = verify_ledger(tmp_path / "ledger.sqlite", {public_key_id(key): key})
    assert result.ok and result.entries == len(PAYLOADS)
