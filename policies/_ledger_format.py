"""What a ledger entry is and how it is encoded, so an auditor can recompute it with other tools.

An entry::

    seq        1, 2, 3, ...
    at         UTC time, microseconds, ISO 8601: 2025-01-31T12:00:00.000000Z
    kind       what happened: gate.run, retention.apply, review.approve, ...
    actor      who: a user name, or metagate
    payload    a JSON object
    prev_hash  the hash of entry seq - 1; 64 zeros for entry 1
    hash       hex SHA-256 of canonical JSON of the object with the six fields above:
               {"actor": ..., "at": ..., "kind": ..., "payload": {...}, "prev_hash": ..., "seq": ...}
    signature  hex Ed25519 signature over the 32 bytes the hash stands for
    key_id     first 16 hex digits of SHA-256 of the signer's 32-byte raw public key

The hash covers the first six fields; signature and key_id vouch for the hash.

Canonical JSON: object keys sorted by code point, no whitespace (separators ``,`` and ``:``),
non-ASCII characters as themselves rather than ``\\u`` escapes, encoded as UTF-8, which is
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in Python.
Payload values are strings, integers within +/-(2**53 - 1), booleans, null, arrays and
objects; floats are refused because their text differs between JSON libraries. The
``payload`` column holds the payload in exactly this form. With stock tools::

    sqlite3 -json ledger.db 'SELECT * FROM ledger ORDER BY seq' | python3 -c '
    import hashlib, json, sys
    for e in json.load(sys.stdin):
        body = {k: e[k] for k in ("seq", "at", "kind", "actor", "prev_hash")}
        body["payload"] = json.loads(e["payload"])
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        print(e["seq"], hashlib.sha256(text.encode()).hexdigest() == e["hash"])'

    # one signature, with OpenSSL 3 (ledger.pub from write_public_key):
    echo -n "$HASH" | xxd -r -p > hash.bin; echo -n "$SIGNATURE" | xxd -r -p > sig.bin
    openssl pkeyutl -verify -pubin -inkey ledger.pub -rawin -in hash.bin -sigfile sig.bin
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import TypeAlias

from policies._errors import PolicyError

JsonValue: TypeAlias = "bool | int | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonInput: TypeAlias = "bool | int | str | Sequence[JsonInput] | Mapping[str, JsonInput] | None"

GENESIS_HASH = "0" * 64
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_INT = 2**53 - 1  # beyond this, JSON readers in other languages round


@dataclass(frozen=True)
class LedgerEntry:
    """One entry as stored; :func:`verify`, not reading, proves it genuine."""

    seq: int
    at: str
    kind: str
    actor: str
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str
    signature: str
    key_id: str

    @property
    def timestamp(self) -> datetime:
        return datetime.strptime(self.at, _AT_FORMAT).replace(tzinfo=UTC)


def canonical_json(value: JsonInput) -> bytes:
    """The canonical encoding the ledger hashes (see the module docstring); refuses floats."""
    return _dumps(_plain(value, "payload"))


def _dumps(value: JsonValue) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise PolicyError("holds text that is not valid Unicode (a lone surrogate)", field="payload") from exc


def entry_hash(seq: int, at: str, kind: str, actor: str, payload: Mapping[str, JsonInput], prev_hash: str) -> str:
    """The hex SHA-256 an entry with these fields must carry."""
    body: dict[str, JsonValue] = {"seq": seq, "at": at, "kind": kind, "actor": actor, "prev_hash": prev_hash}
    body["payload"] = _plain(payload, "payload")
    return hashlib.sha256(_dumps(body)).hexdigest()


def hash_of_text(seq: int, at: str, kind: str, actor: str, payload_text: str, prev_hash: str) -> str:
    """:func:`entry_hash` of a payload already in canonical JSON (``payload_text``), without encoding it again.

    The six keys in code point order are actor, at, kind, payload, prev_hash, seq, and the
    payload nested in canonical JSON is its own canonical JSON, so the text is assembled.
    """

    text = encode_basestring  # what json.dumps(value, ensure_ascii=False) writes for a string
    whole = (
        f'{{"actor":{text(actor)},"at":{text(at)},"kind":{text(kind)},"payload":{payload_text},'
        f'"prev_hash":{text(prev_hash)},"seq":{int(seq)}}}'
    )
    try:
        return hashlib.sha256(whole.encode()).hexdigest()
    except UnicodeEncodeError as exc:
        raise PolicyError("holds text that is not valid Unicode (a lone surrogate)", field="actor") from exc


def _plain(value: object, where: str) -> JsonValue:
    """A plain copy of a JSON value (dicts, lists), or an error naming the field that is not one."""
    kind = type(value)  # the common exact types first; anything else (subclasses, tuples) below
    if kind is str or kind is bool or value is None:
        return value  # type: ignore[return-value]
    if isinstance(value, dict) and kind is dict:
        plain: dict[str, JsonValue] = {}
        for key, item in value.items():
            if type(key) is str and (type(item) is str or item is None or type(item) is bool):
                plain[key] = item
            else:
                if not isinstance(key, str):
                    raise PolicyError(f"a key that is a {type(key).__name__}, not a string", field=where)
                plain[key] = _plain(item, f"{where}.{key}")
        return plain
    if isinstance(value, list) and kind is list:
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return _plain_other(value, where)


def _plain_other(value: object, where: str) -> JsonValue:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise PolicyError("an integer beyond +/-(2**53 - 1); record it as a string", field=where)
        return int(value)
    if isinstance(value, float):
        raise PolicyError("a float (its JSON text differs between tools); record an integer or a string", field=where)
    if isinstance(value, Mapping):
        plain: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PolicyError(f"a key that is a {type(key).__name__}, not a string", field=where)
            plain[key] = _plain(item, f"{where}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise PolicyError(f"a {type(value).__name__}, which is no JSON value", field=where)


def _parse_payload(text: str) -> dict[str, JsonValue]:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    value = json.loads(text, parse_constant=refuse)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the ledger clock must return an aware datetime")
    return moment.astimezone(UTC).strftime(_AT_FORMAT)
