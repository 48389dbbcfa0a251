"""What packaging decided about one finding for one partner, and why.

Every finding gets a :class:`Decision`: queued (with the review item it went into),
unchanged (everything it would send is already queued, as it is), or refused. A refusal, and
every part of a finding left out of what is queued (one domestic address among three), is a
:class:`Note` naming the clause that decided, in the form the gate's reasons take::

    us-partner:min_confidence=60          confidence 40 is below the agreement's minimum
    us-partner:tlp_ceiling=amber          marked TLP:RED, above the agreement's ceiling
    us-partner:indicator_kinds            needs one of network-traffic, ipv4-addr; agreed: ipv6-addr
    us-partner:domestic_addresses=never   192.0.2.7 is domestic
    exchange:victims-are-not-indicators   the subject is the victim of the attack, not its source
    exchange:revoked-is-final             indicator--... was revoked; STIX has no un-revoking
    exchange:inbound-is-not-reshared      indicator--... came from a partner
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    QUEUED = "queued"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class Note:
    """One clause that refused a finding or left part of it out."""

    clause: str
    reason: str

    def __str__(self) -> str:
        return f"{self.clause}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    finding_id: str
    partner: str
    outcome: Outcome
    notes: tuple[Note, ...] = ()
    item: int | None = None
    object_ids: tuple[str, ...] = field(default=())

    @property
    def reason(self) -> str:
        """The notes as one line (empty for a finding queued whole)."""
        return "; ".join(str(n) for n in self.notes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding_id,
            "partner": self.partner,
            "outcome": self.outcome.value,
            "item": self.item,
            "objects": list(self.object_ids),
            "notes": [{"clause": n.clause, "reason": n.reason} for n in self.notes],
        }


class Refused(Exception):
    """Raised inside packaging to refuse a whole finding; becomes a refused Decision."""

    def __init__(self, *notes: Note) -> None:
        self.notes = notes
        super().__init__("; ".join(str(n) for n in notes))
