"""What a reviewer weighs, drawn from what the queue item holds and from the ledger.

- From the item's own objects (exactly as they will be sent): the detector (the finding's
  kind) and technique, the pattern, the window (first and last sighting, validity), the
  counts (flows sighted, inside parties) and the confidence.
- From the packaging decision: outcome and each clause that left something out.
- The gate decisions behind it: the ``gate.run`` entries of the ledger made under the same
  policy (its SHA-256, which the item records) before the item's ``review.queue`` entry: records in and
  out, and the counts by step and reason. The finding came from records those runs let pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange import Item
    from policies import Ledger

_GATE_RUNS_SHOWN = 5


@dataclass
class Evidence:
    detector: str | None
    technique: str | None
    patterns: list[str] = field(default_factory=list)
    window: tuple[str, str] | None = None
    valid: tuple[str, str] | None = None
    sighted: int | None = None
    inside_parties: int | None = None
    confidence: int | None = None
    revoked: bool = False
    objects: list[dict[str, Any]] = field(default_factory=list)


def evidence_of(item: Item) -> Evidence:
    evidence = Evidence(detector=item.kind, technique=None)
    for obj in item.objects:
        data = json.loads(obj.json)
        evidence.objects.append(
            {
                "id": obj.object_id,
                "type": obj.type,
                "version": obj.version,
                "role": obj.role,
                "sha256": obj.sha256,
                "delivery": obj.delivery or "not sent",
                "revoked": bool(data.get("revoked")),
            }
        )
        if obj.role != "object":
            evidence.revoked = evidence.revoked or bool(data.get("revoked"))
            continue
        if data.get("confidence") is not None:
            evidence.confidence = max(evidence.confidence or 0, int(data["confidence"]))
        if data["type"] == "indicator":
            evidence.patterns.append(str(data.get("pattern", "")))
            refs = [r.get("external_id") for r in data.get("external_references", []) if r.get("external_id")]
            evidence.technique = evidence.technique or (", ".join(refs) or None)
            if "valid_from" in data:
                evidence.valid = (data["valid_from"], data.get("valid_until", "open"))
        elif data["type"] == "sighting":
            if "first_seen" in data:
                evidence.window = (data["first_seen"], data.get("last_seen", data["first_seen"]))
            evidence.sighted = data.get("count")
            evidence.inside_parties = data.get("x_metagate_inside_parties_total")
    return evidence


def gate_runs_for(ledger: Ledger, policy_sha256: str, before_seq: int | None) -> list[dict[str, Any]]:
    """The latest gate runs under this policy recorded before ledger entry ``before_seq`` (newest first)."""
    runs: list[dict[str, Any]] = []
    for entry in ledger.entries(kind="gate.run", contains=policy_sha256):
        payload = entry.payload
        if payload.get("policy_sha256") != policy_sha256 or (before_seq is not None and entry.seq > before_seq):
            continue
        counts = payload.get("counts")
        steps = counts if isinstance(counts, dict) else {}
        runs.append(
            {
                "seq": entry.seq,
                "at": entry.at,
                "actor": entry.actor,
                "policy": payload.get("policy"),
                "records_in": payload.get("records_in"),
                "records_out": payload.get("records_out"),
                "key_ids": payload.get("key_ids") or [],
                "counts": [
                    (str(step), str(reason), n)
                    for step, reasons in steps.items()
                    if isinstance(reasons, dict)
                    for reason, n in reasons.items()
                ],
            }
        )
    return list(reversed(runs))[:_GATE_RUNS_SHOWN]
