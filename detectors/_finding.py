"""The Finding: what every detector reports, the input of the exchange.

A finding names the outside party in clear (the scanner, the C2 server, the reflector, the
indicated address): ``subject``. The domestic side appears only as it left the gate, as
pseudonyms (``targets``) or as counts. Which side of a flow is outside comes from the
record's ``traffic_class``: foreign-to-domestic means the originator is outside,
domestic-to-foreign the responder, foreign-to-foreign both.

Every finding carries its time window (flow time), its counts, the flow ids of its evidence
(the earliest ``max_evidence`` of them, and how many there were in all), a confidence from 0
to 100 (each detector documents its formula, docs/detectors.md), and the MITRE ATT&CK
technique it maps to. Its id is derived from what it says (kind, subject, window), so the
same data gives the same ids, run after run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# a fixed namespace: finding ids are uuid5 of what the finding says
_NAMESPACE = uuid.UUID("6f1c1a52-3b0e-5d8e-9a47-0d6a4e8c2f11")


class FindingKind(StrEnum):
    """What a finding is about; one detector module each."""

    HORIZONTAL_SCAN = "horizontal-scan"
    VERTICAL_SCAN = "vertical-scan"
    BRUTE_FORCE = "brute-force"
    BEACONING = "beaconing"
    DDOS = "ddos"
    REFLECTION = "reflection"
    INDICATOR_MATCH = "indicator-match"


class Role(StrEnum):
    """What the subject of a finding did, or was."""

    SCANNER = "scanner"
    ATTACKER = "attacker"
    C2_SERVER = "c2-server"
    FLOOD_SOURCE = "flood-source"
    REFLECTOR = "reflector"
    VICTIM = "victim"
    INDICATED = "indicated"


# MITRE ATT&CK (Enterprise) techniques the detectors map to, with their names
TECHNIQUES: dict[str, str] = {
    "T1046": "Network Service Discovery",
    "T1071": "Application Layer Protocol",
    "T1071.001": "Application Layer Protocol: Web Protocols",
    "T1110": "Brute Force",
    "T1498.001": "Network Denial of Service: Direct Network Flood",
    "T1498.002": "Network Denial of Service: Reflection Amplification",
    "T1499.001": "Endpoint Denial of Service: OS Exhaustion Flood",
}


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Utc = Annotated[AwareDatetime, AfterValidator(_utc)]
Detail = bool | int | float | str | None


class Finding(BaseModel):
    """One finding; immutable, JSON in and out (``to_json`` / ``Finding.model_validate_json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: FindingKind
    technique: Annotated[str, Field(pattern=r"^T\d{4}(\.\d{3})?$")]
    technique_name: str
    subject: tuple[str, ...]
    subject_role: Role
    subject_total: int = Field(ge=0)
    targets: tuple[str, ...]
    target_total: int = Field(ge=0)
    protocols: tuple[str, ...]
    ports: tuple[int, ...]
    window_start: Utc
    window_end: Utc
    first_seen: Utc
    last_seen: Utc
    counts: dict[str, int]
    evidence: tuple[str, ...]
    evidence_total: int = Field(ge=0)
    confidence: int = Field(ge=0, le=100)
    details: dict[str, Detail] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    def sort_key(self) -> tuple[datetime, str, tuple[str, ...], str]:
        return (self.window_start, self.kind.value, self.subject, self.id)


def finding_id(kind: FindingKind, subject: tuple[str, ...], window_start_us: int, extra: str = "") -> str:
    """``finding--`` and the uuid5 of the kind, subject, window start and a detector's own key."""
    name = f"{kind.value}|{','.join(subject)}|{window_start_us}|{extra}"
    return f"finding--{uuid.uuid5(_NAMESPACE, name)}"


def technique(technique_id: str) -> dict[str, Any]:
    """The ``technique`` and ``technique_name`` fields of a finding."""
    return {"technique": technique_id, "technique_name": TECHNIQUES.get(technique_id, technique_id)}


def from_us(micros: int) -> datetime:
    """Flow time (microseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
