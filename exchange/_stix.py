"""STIX 2.1 objects built with ``stix2``, serialized once into the bytes that are queued and sent.

An object travels as the compact JSON ``stix2`` produces (its property order, no spaces),
made once when it is packaged: the queue stores those bytes, ``metagate review show`` prints
them, the SHA-256 the ledger records is theirs, and the envelope pushed to the partner is
built from them without re-encoding. What an analyst approved is byte for byte what leaves.
"""

from __future__ import annotations

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

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.json).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.json)
        return parsed

    @property
    def revoked(self) -> bool:
        return bool(self.as_dict().get("revoked", False))


def encode(properties: dict[str, Any]) -> bytes:
    """``properties`` through the ``stix2`` class of their type, as compact JSON (STIXError if invalid)."""
    import stix2

    kind = properties["type"]
    cls = _CLASSES[kind]
    custom = any(name.startswith("x_") for name in properties)
    obj = getattr(stix2.v21, cls)(allow_custom=custom, **{k: v for k, v in properties.items() if k != "type"})
    return dumps(json.loads(obj.serialize()))


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stix_object(data: bytes, tlp: Tlp | None = None) -> StixObject:
    """The StixObject of encoded JSON (its version: ``modified``, else ``created``)."""
    parsed = json.loads(data)
    version = parsed.get("modified") or parsed.get("created") or ""
    return StixObject(parsed["id"], parsed["type"], version, data, tlp)


_CLASSES = {"indicator": "Indicator", "sighting": "Sighting", "identity": "Identity"}


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
