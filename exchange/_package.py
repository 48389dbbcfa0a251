"""Findings into STIX 2.1 objects for one partner, as the partner agreement allows.

For each finding, :meth:`Packager.package` returns a :class:`~exchange._decision.Decision` and
the objects to queue for review:

- a finding about outside addresses (scanner, attacker, C2 server, flood source, reflector)
  gives, for each subject address the agreement lets go, an **Indicator** (the pattern of
  exchange._patterns, confidence from the finding, ``valid_until`` the last sighting plus the
  agreement's ``valid_days``, ATT&CK technique as kill chain phase and external reference) and
  a **Sighting** of it by us (when, how often, and the inside parties as the agreement allows);
- a match of one of the partner's indicators gives a **Sighting** of the partner's indicator,
  marked at least as restrictively as the partner marked the indicator.

Every object is created by our **Identity** and marked with a TLP 2.0 marking definition; the
identity and the markings go to the partner with the first object that references them
(exchange._queue keeps them as companions).

Versions: an indicator's id is fixed by partner and pattern, so a later finding of the same
pattern merges into the latest queued version (earliest ``valid_from``, latest
``valid_until``, highest confidence, union of techniques) and becomes a new version only if
that changed something. Packaging the same findings twice queues nothing the second time.
A revoked indicator is never revived (STIX has no un-revoking).

Every object is checked with stix2-validator (default mode) before it is returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from detectors import Finding, FindingKind, Role
from exchange._agreement import AgreementView
from exchange._config import ExchangeConfig
from exchange._decision import Decision, Note, Outcome, Refused
from exchange._errors import StixInvalid
from exchange._ids import identity_id, indicator_id, later_than, parse_stamp, sighting_id, stix_stamp
from exchange._patterns import PROTOCOLS, PatternSpec, Side, canonical_address
from exchange._stix import (
    StixObject,
    attack_reference,
    encoded,
    kill_chain_phase,
    merge_list,
    stix2_form,
    stix_object,
)
from exchange._tlp import MARKING_IDS, stricter
from exchange._validate import StixValidator
from policies import DomesticSharing, Policy, PseudonymScope, Tlp

_MAX_COUNT = 999_999_999  # STIX's bound on a sighting's count
_TYPES: dict[Role, str] = {
    Role.SCANNER: "anomalous-activity",
    Role.ATTACKER: "malicious-activity",
    Role.C2_SERVER: "malicious-activity",
    Role.FLOOD_SOURCE: "malicious-activity",
    Role.REFLECTOR: "anomalous-activity",
}
# findings whose one service says what the subject did: their patterns keep port and protocol
_SERVICE_KINDS = (
    FindingKind.HORIZONTAL_SCAN,
    FindingKind.BRUTE_FORCE,
    FindingKind.BEACONING,
    FindingKind.DDOS,
    FindingKind.REFLECTION,
)


@dataclass(frozen=True)
class Version:
    """The latest queued version of an object, as packaging needs it."""

    json: bytes

    @property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.json)
        return parsed


class History(Protocol):
    """What packaging asks the queue: earlier versions, and what came from the partner."""

    def latest(self, partner: str, object_id: str) -> Version | None: ...

    def latest_many(self, partner: str, object_ids: list[str]) -> dict[str, Version]:
        """:meth:`latest` of several objects at once; those with no version are left out."""
        ...

    def inbound_level(self, object_id: str) -> Tlp | None:
        """The TLP level of an object received from the partner; None when none was received."""
        ...


class Packager:
    """Findings into objects for the partner of ``config``, under the agreement in ``policy``."""

    def __init__(
        self,
        policy: Policy,
        config: ExchangeConfig,
        history: History,
        *,
        clock: Callable[[], datetime] | None = None,
        validator: StixValidator | None = None,
    ) -> None:
        self.view = AgreementView(policy, config.partner)
        self.partner = config.partner
        self.config = config
        self.history = history
        self.clock = clock or (lambda: datetime.now(UTC))
        self.validator = validator or StixValidator()
        self.identity_id = identity_id(self.partner, config.producer.name)
        self._scope_all = policy.profile.pseudonymize.addresses is PseudonymScope.ALL
        self._profile = policy.base_profile or policy.profile.name
        self._now: datetime | None = None
        self._looked_up: dict[str, dict[str, Any] | None] = {}  # within one package() call, nothing is queued

    # companions -------------------------------------------------------------------------

    def identity(self) -> StixObject:
        """Our Identity for this partner: a new version only when the configuration changed it."""
        producer = self.config.producer
        props: dict[str, Any] = {
            "type": "identity",
            "id": self.identity_id,
            "name": producer.name,
            "identity_class": producer.identity_class,
            "sectors": list(producer.sectors),
        }
        if producer.contact_information:
            props["contact_information"] = producer.contact_information
        self._now = None
        self._looked_up.clear()
        made = self._versioned(props)
        return made if made is not None else self._latest_object(self.identity_id)

    # findings ---------------------------------------------------------------------------

    def package(self, finding: Finding) -> tuple[Decision, list[StixObject]]:
        """The decision about one finding and the new object versions it gives (none when refused)."""
        self._now = self.clock()  # one time for every object of the finding
        self._looked_up.clear()
        try:
            objects, notes = self._objects(finding)
        except Refused as refusal:
            return Decision(finding.id, self.partner, Outcome.REFUSED, refusal.notes), []
        except StixInvalid as exc:
            note = Note("exchange:stix-valid", f"stix2-validator refused {exc.object_id}: {'; '.join(exc.errors)}")
            return Decision(finding.id, self.partner, Outcome.REFUSED, (note,)), []
        outcome = Outcome.QUEUED if objects else Outcome.UNCHANGED
        ids = tuple(o.id for o in objects)
        return Decision(finding.id, self.partner, outcome, tuple(notes), None, ids), objects

    def _objects(self, finding: Finding) -> tuple[list[StixObject], list[Note]]:
        agreement = self.view.agreement
        if finding.confidence < agreement.min_confidence:
            raise Refused(Note(self.view.clause("min_confidence"), f"confidence {finding.confidence} is below it"))
        if finding.kind is FindingKind.INDICATOR_MATCH:
            return self._partner_sighting(finding), []
        level = self._level(self.config.tlp)
        if finding.subject_role is Role.VICTIM:
            raise Refused(
                Note(
                    "exchange:victims-are-not-indicators",
                    "the subject is the victim of the attack (reflected at it), not its source",
                )
            )
        if self._scope_all:
            raise Refused(
                Note(
                    f"{self._profile}:pseudonymize.addresses=all",
                    "every address is a pseudonym under this profile; a pseudonym is never an indicator",
                )
            )
        notes: list[Note] = []
        subjects: list[str] = []
        inside = list(finding.targets)
        for text in finding.subject:
            address = canonical_address(text)
            if address is None:
                notes.append(Note("exchange:addresses-in-clear", f"{text} is not an address in clear (a pseudonym?)"))
            else:
                subjects.append(address)
        for address, domestic in zip(subjects[:], self.view.domestic(subjects), strict=True):
            if domestic:
                subjects.remove(address)
                if self.view.sharing is DomesticSharing.PARTNER_PSEUDONYMS:
                    inside.append(address)
                    why = f"{address} is domestic: never a pattern, sent only as a partner pseudonym"
                else:
                    why = f"{address} is domestic"
                notes.append(Note(self.view.clause("domestic_addresses"), why))
        objects: list[StixObject] = []
        shared = 0
        for address in subjects:
            spec = self._spec(finding, address, notes)
            if spec is None:
                continue
            pattern_id = indicator_id(self.partner, spec.text())
            self._prefetch([pattern_id, sighting_id(self.partner, pattern_id, finding.id)])  # one question
            latest = self._previous(pattern_id)
            if latest is not None and latest.get("revoked"):
                notes.append(
                    Note(
                        "exchange:revoked-is-final",
                        f"{pattern_id} ({spec.text()}) was revoked; STIX has no un-revoking",
                    )
                )
                continue
            shared += 1
            indicator = self._indicator(finding, spec, pattern_id, level)
            if indicator is not None:
                objects.append(indicator)
            sighting = self._own_sighting(finding, pattern_id, level, inside, single=len(finding.subject) == 1)
            if sighting is not None:
                objects.append(sighting)
        if not shared:
            raise Refused(*notes) if notes else Refused(Note("exchange:nothing-to-share", "the finding has no subject"))
        return objects, notes

    def _spec(self, finding: Finding, address: str, notes: list[Note]) -> PatternSpec | None:
        """The pattern for one subject: network-traffic when agreed and the finding names one service."""
        spec = PatternSpec(address)
        if finding.kind in _SERVICE_KINDS and len(finding.ports) == 1:
            role = finding.subject_role
            protocol = finding.protocols[0] if len(finding.protocols) == 1 else None
            protocol = protocol if protocol in PROTOCOLS else None
            port = finding.ports[0]
            if role is Role.C2_SERVER:
                spec = PatternSpec(address, Side.DST, port, Side.DST, protocol)
            elif role is Role.REFLECTOR:
                spec = PatternSpec(address, Side.SRC, port, Side.SRC, protocol)
            else:
                spec = PatternSpec(address, Side.SRC, port, Side.DST, protocol)
        if self.view.allows(spec.kind):
            return spec
        if spec.kind == "network-traffic" and self.view.allows(spec.address_kind):
            return spec.plain()
        wanted = " or ".join(dict.fromkeys((spec.kind, spec.address_kind)))
        agreed = ", ".join(self.view.agreement.indicator_kinds)
        notes.append(Note(self.view.clause("indicator_kinds"), f"{address} needs {wanted}; agreed: {agreed}"))
        return None

    def _level(self, level: Tlp) -> Tlp:
        if not self.view.within_ceiling(level):
            raise Refused(Note(self.view.clause("tlp_ceiling"), f"marked TLP:{level.value.upper()}, above it"))
        return level

    def _indicator(self, finding: Finding, spec: PatternSpec, object_id: str, level: Tlp) -> StixObject | None:
        previous = self._previous(object_id)
        valid_from = finding.first_seen
        valid_until = finding.last_seen + timedelta(days=self.view.agreement.valid_days)
        technique = finding.technique
        phase = kill_chain_phase(technique)
        props: dict[str, Any] = {
            "type": "indicator",
            "id": object_id,
            "created_by_ref": self.identity_id,
            "name": _name(spec),
            "description": f"{finding.technique_name} ({technique}), reported by {self.config.producer.name}",
            "indicator_types": [_TYPES[finding.subject_role]],
            "pattern": spec.text(),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": stix_stamp(valid_from),
            "valid_until": stix_stamp(valid_until),
            "kill_chain_phases": [phase] if phase else [],
            "confidence": finding.confidence,
            "external_references": [attack_reference(technique)],
            "object_marking_refs": [MARKING_IDS[level]],
        }
        if previous is not None:  # merge: what both versions say, so merging again changes nothing
            props["valid_from"] = min(props["valid_from"], previous["valid_from"], key=parse_stamp)
            props["valid_until"] = max(props["valid_until"], previous["valid_until"], key=parse_stamp)
            props["confidence"] = max(props["confidence"], previous.get("confidence", 0))
            props["description"] = previous.get("description", props["description"])
            for name in ("indicator_types", "kill_chain_phases", "external_references"):
                props[name] = merge_list(previous.get(name), props[name])
            marked = [m for m in previous.get("object_marking_refs", []) if m in MARKING_IDS.values()]
            props["object_marking_refs"] = merge_list(marked, props["object_marking_refs"])
        if not props["kill_chain_phases"]:
            del props["kill_chain_phases"]
        return self._versioned(props, level)

    def _own_sighting(
        self, finding: Finding, indicator: str, level: Tlp, inside: list[str], *, single: bool
    ) -> StixObject | None:
        props = self._sighting_props(finding, indicator, level)
        if not single:
            del props["count"]  # the finding's counts are over all its subjects, not this one
        props.update(self._inside(finding, inside))
        return self._versioned(props, level)

    def _partner_sighting(self, finding: Finding) -> list[StixObject]:
        indicator = str(finding.details.get("indicator_id") or "")
        if not indicator.startswith("indicator--"):
            raise Refused(Note("exchange:sighting-of", "the finding names no partner indicator"))
        received = self.history.inbound_level(indicator)
        marked = received if received is not None else self.config.inbound.unmarked_tlp
        level = self._level(stricter(self.config.tlp, marked))
        props = self._sighting_props(finding, indicator, level)
        props.update(self._inside(finding, list(finding.targets)))
        made = self._versioned(props, level)
        return [made] if made is not None else []

    def _sighting_props(self, finding: Finding, indicator: str, level: Tlp) -> dict[str, Any]:
        first = stix_stamp(finding.first_seen)
        last = stix_stamp(max(finding.first_seen, finding.last_seen))  # truncating to milliseconds keeps order
        return {
            "type": "sighting",
            "id": sighting_id(self.partner, indicator, finding.id),
            "created_by_ref": self.identity_id,
            "sighting_of_ref": indicator,
            "where_sighted_refs": [self.identity_id],
            "first_seen": first,
            "last_seen": last,
            "count": min(finding.evidence_total, _MAX_COUNT),
            "confidence": finding.confidence,
            "object_marking_refs": [MARKING_IDS[level]],
        }

    def _inside(self, finding: Finding, inside: list[str]) -> dict[str, Any]:
        """The inside parties as the agreement allows: this partner's pseudonyms, or only their number."""
        extra: dict[str, Any] = {"x_metagate_inside_parties_total": finding.target_total}
        if self.view.pseudonyms is not None and inside:
            extra["x_metagate_inside_parties"] = sorted({self.view.pseudonyms(v) for v in inside})
        return extra

    # versions ---------------------------------------------------------------------------

    def _previous(self, object_id: str) -> dict[str, Any] | None:
        """The latest queued version, asked once per object while one finding is packaged."""
        if object_id not in self._looked_up:
            latest = self.history.latest(self.partner, object_id)
            self._looked_up[object_id] = latest.data if latest is not None else None
        return self._looked_up[object_id]

    def _prefetch(self, object_ids: list[str]) -> None:
        """The latest versions of objects about to be asked for, in one question to the history."""
        wanted = [i for i in object_ids if i not in self._looked_up]
        if wanted:
            found = self.history.latest_many(self.partner, wanted)
            for object_id in wanted:
                latest = found.get(object_id)
                self._looked_up[object_id] = latest.data if latest is not None else None

    def _latest_object(self, object_id: str) -> StixObject:
        latest = self.history.latest(self.partner, object_id)
        assert latest is not None
        return stix_object(latest.json)

    def _versioned(self, props: dict[str, Any], level: Tlp | None = None) -> StixObject | None:
        """A new version of ``props`` (None when the latest version already says exactly this), validated."""
        previous = self._previous(props["id"])
        now = self._now if self._now is not None else self.clock()
        if previous is not None:
            props["created"] = previous["created"]
            props["modified"] = previous["modified"]
            if stix2_form(props) == previous:  # compared as stix2 writes it
                return None
            props["modified"] = stix_stamp(later_than(now, previous["modified"]))
        else:
            props["created"] = props["modified"] = stix_stamp(now)
        form, data = encoded(props)
        self.validator.check(form, partner=self.partner)  # the object exactly as its bytes say
        return StixObject(form["id"], form["type"], form["modified"], data, level)


def _name(spec: PatternSpec) -> str:
    if spec.side is None:
        return spec.address
    service = f"{spec.protocol or 'any'}/{spec.port}" if spec.port is not None else spec.protocol or "any"
    return f"{spec.address} ({spec.side.value} of {service})"
