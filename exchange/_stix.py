"""STIX 2.1 objects built with ``stix2``, serialized once into the bytes that are queued and sent.

An object travels as the compact JSON ``stix2`` produces (its property order, no spaces),
made once when it is packaged: the queue stores those bytes, ``metagate review show`` prints
them, the SHA-256 the ledger records is theirs, and the envelope pushed to the partner is
built from them without re-encoding. What an analyst approved is byte for byte what leaves.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from policies import Tlp

# MITRE ATT&CK tactics (as kill chain phases) of the techniques the detectors report
TACTICS: dict[str, str] = {
    "T1046": "discovery",
    "T1071": "command-and-control",
    "T1110": "credential-access",
    "T1498": "impact",
    "T1499": "impact",
}


@dataclass(frozen=True)
class StixObject:
    """One object version ready to queue: its id, type, version and exact JSON."""

    id: str
    type: str
    version: str
    json: bytes
    tlp: Tlp | None = None

    @functools.cached_property  # the queue row and the ledger entry both want it
    def sha256(self) -> str:
        return hashlib.sha256(self.json).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.json)
        return parsed

    @property
    def revoked(self) -> bool:
        return bool(self.as_dict().get("revoked", False))


def encode(properties: dict[str, Any]) -> bytes:
    """``properties`` as the compact JSON ``stix2`` writes for its class, without building the object.

    ``stix2`` costs about a millisecond an object here; the bytes are the same (its property
    order, its timestamp precision), which tests/exchange/test_stix_encode.py checks against
    ``stix2`` itself. Whether the object is valid is the validator's question, asked next.
    """
    return dumps(stix2_form(properties))


def encoded(properties: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """:func:`stix2_form` of ``properties`` and its bytes (:func:`encode`): the object checked is the one sent.

    The form holds only JSON values (text, integers, booleans, lists, objects), which the
    bytes give back exactly when parsed, so packaging validates it without parsing them again.
    """
    form = stix2_form(properties)
    return form, dumps(form)


def stix2_form(properties: dict[str, Any]) -> dict[str, Any]:
    """``properties`` as ``stix2`` would hold them: its property order, its timestamp forms."""
    kind = properties["type"]
    out: dict[str, Any] = {"type": kind, "spec_version": properties.get("spec_version", "2.1")}
    for name in _layout(kind, tuple(properties)):
        value = properties[name]
        if name in _MILLIS:
            value = stix2_stamp(value, millis=True)
        elif name in _STAMPS:
            value = stix2_stamp(value, millis=False)
        elif name == "external_references":
            value = [_ordered(ref, _REFERENCE) for ref in value]
        elif name == "kill_chain_phases":
            value = [_ordered(phase, _PHASE) for phase in value]
        out[name] = value
    return out


@functools.lru_cache(maxsize=256)  # packaging builds each kind with the same few sets of properties
def _layout(kind: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The properties after type and spec_version, in the order stix2 writes them for its class."""
    rank = {name: i for i, name in enumerate(_ORDER[kind])}
    known = sorted((k for k in names if k in rank), key=rank.__getitem__)
    custom = sorted(k for k in names if k not in rank)  # stix2 writes custom properties sorted
    return tuple(k for k in [*known, *custom] if k not in ("type", "spec_version"))


def stix2_stamp(text: str, *, millis: bool) -> str:
    """A timestamp as ``stix2`` writes it: created/modified with at least milliseconds, others trimmed."""
    if not isinstance(text, str) or len(text) < 20 or text[-1] != "Z" or text[19:20] not in (".", "Z"):
        return text  # not ours to fix: the validator will say what is wrong
    whole, fraction = text[:19], text[20:-1]
    digits = (fraction + "000000")[:6].rstrip("0")
    if millis:
        digits = digits.ljust(3, "0")
    return f"{whole}.{digits}Z" if digits else f"{whole}Z"


def _ordered(item: Any, order: tuple[str, ...]) -> Any:
    if not isinstance(item, dict):
        return item
    return {k: item[k] for k in sorted(item, key=lambda k: order.index(k) if k in order else len(order))}


_COMMON_HEAD = ("type", "spec_version", "id", "created_by_ref", "created", "modified")
_COMMON_TAIL = (
    "revoked", "labels", "confidence", "lang", "external_references", "object_marking_refs", "granular_markings",
    "extensions",
)
# stix2's property order of each class we build (its _properties), checked by the encode test
_ORDER: dict[str, tuple[str, ...]] = {
    "identity": (
        *_COMMON_HEAD, "name", "description", "roles", "identity_class", "sectors", "contact_information",
        *_COMMON_TAIL,
    ),
    "indicator": (
        *_COMMON_HEAD, "name", "description", "indicator_types", "pattern", "pattern_type", "pattern_version",
        "valid_from", "valid_until", "kill_chain_phases", *_COMMON_TAIL,
    ),
    "sighting": (
        *_COMMON_HEAD, "description", "first_seen", "last_seen", "count", "sighting_of_ref", "observed_data_refs",
        "where_sighted_refs", "summary", *_COMMON_TAIL,
    ),
}
_MILLIS = frozenset({"created", "modified"})
_STAMPS = frozenset({"valid_from", "valid_until", "first_seen", "last_seen"})
_REFERENCE = ("source_name", "description", "url", "hashes", "external_id")
_PHASE = ("kill_chain_name", "phase_name")


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stix_object(data: bytes, tlp: Tlp | None = None) -> StixObject:
    """The StixObject of encoded JSON (its version: ``modified``, else ``created``)."""
    parsed = json.loads(data)
    version = parsed.get("modified") or parsed.get("created") or ""
    return StixObject(parsed["id"], parsed["type"], version, data, tlp)



def attack_reference(technique: str) -> dict[str, str]:
    """The external reference of an ATT&CK technique (``T1071.001`` -> ``.../T1071/001/``)."""
    path = technique.replace(".", "/")
    return {
        "source_name": "mitre-attack",
        "external_id": technique,
        "url": f"https://attack.mitre.org/techniques/{path}/",
    }


def kill_chain_phase(technique: str) -> dict[str, str] | None:
    tactic = TACTICS.get(technique.split(".")[0])
    return {"kill_chain_name": "mitre-attack", "phase_name": tactic} if tactic else None


def merge_list(previous: list[Any] | None, new: list[Any]) -> list[Any]:
    """The union of two lists of JSON values, in a fixed order (so merging twice changes nothing)."""
    seen = {json.dumps(v, sort_keys=True): v for v in [*(previous or []), *new]}
    return [seen[k] for k in sorted(seen)]
