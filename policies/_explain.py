"""A policy in plain words, for an auditor: what passes, what is dropped, what is pseudonymized.

Written from the resolved policy only, so what it says is what the gate does.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies._decisions import CLASSES, SPECIAL_PURPOSE
from policies._loader import Policy
from policies._models import Approval, Handling, PseudonymMethod, PseudonymScope, SpecialPurpose

_METHOD = {
    PseudonymMethod.CRYPTOPAN: "Crypto-PAn (prefix-preserving: addresses in one network stay in one network)",
    PseudonymMethod.HMAC: "keyed HMAC-SHA256 (no structure kept: equal addresses stay equal, nothing else)",
    PseudonymMethod.TRUNCATE: "prefix truncation",
}
_SCOPE = {
    PseudonymScope.NONE: "No address is pseudonymized.",
    PseudonymScope.SUBSCRIBER: "Subscriber addresses (the subscriber prefixes below) are pseudonymized",
    PseudonymScope.DOMESTIC: "Every domestic address is pseudonymized",
    PseudonymScope.ALL: "Every address, domestic or foreign, is pseudonymized",
}


def explain(policy: Policy, record_fields: Sequence[str] = ()) -> str:
    """The policy as a few paragraphs of plain text; ``record_fields`` names what a record could hold."""
    profile = policy.profile
    out = [f"Policy {policy.name} ({policy.source})"]
    out.append(f"Profile: {profile.title}. Law: {profile.law}.")
    if profile.description:
        out.append(profile.description)
    out.append("")
    out.append(f"What is kept of each flow: {len(profile.fields)} fields: {', '.join(profile.fields)}.")
    left_out = [name for name in record_fields if name not in profile.fields]
    dropped = f"{', '.join(left_out)}; " if left_out else ""
    out.append(
        f"What is never kept: {dropped}any payload byte (the collectors never copy it), MAC addresses, "
        "GTP TEIDs. A gated record is rebuilt from the fields above; nothing else is copied."
    )
    out.append("")
    out.append(_domestic(policy))
    out.append("")
    out.append("Which flows pass:")
    for cls in CLASSES:
        handling = profile.classes[cls]
        clause = f"{policy.base_profile or profile.name}:classes.{cls.value}={handling.value}"
        if handling is Handling.NEVER:
            out.append(f"  - {cls.value}: never passes, whatever approval exists [{clause}]")
        elif handling is Handling.ALWAYS:
            out.append(f"  - {cls.value}: always passes [{clause}]")
        else:
            covering = [a for a in policy.approvals if cls in a.classes]
            if not covering:
                out.append(f"  - {cls.value}: passes only under an approval, and the policy has none: nothing passes")
            else:
                out.append(f"  - {cls.value}: passes only under one of these approvals [{clause}]:")
                out.extend(f"      {_approval(a)}" for a in covering)
    out.append(
        "  A flow whose addresses do not parse, or that mixes IPv4 and IPv6, is dropped. An approval covers a "
        "flow when one of its addresses is in the approval's scope and the flow starts and ends inside its window."
    )
    out.append("")
    out.append(_pseudonyms(policy))
    out.append("")
    out.append(
        f"Retention: each gated record is kept {profile.retention.days} days after the flow's end, then deleted "
        "by `metagate retention apply`, which records the deletion in the audit ledger."
    )
    out.append(f"Aggregates (counts by prefix, port, class) suppress every cell under {profile.aggregate_k} flows.")
    if policy.partners:
        out.append("")
        out.append("Partners:")
        for p in policy.partners:
            domestic = (
                "never shared"
                if p.domestic_addresses.value == "never"
                else f"shared only as the partner's own pseudonyms (key {p.pseudonym_key})"
            )
            out.append(
                f"  - {p.partner} ({p.identity}): {', '.join(p.indicator_kinds)} at confidence {p.min_confidence}+,"
                f" TLP up to {p.tlp_ceiling.value}; domestic addresses {domestic};"
                f" {p.approvals_required} approval(s) per release"
            )
    return "\n".join(out) + "\n"


def _domestic(policy: Policy) -> str:
    nets = ", ".join(str(n) for n in policy.domestic) or "none listed"
    text = f"Domestic address space: {len(policy.domestic)} prefixes ({nets})"
    if policy.profile.special_purpose is SpecialPurpose.DOMESTIC:
        text += (
            f", plus {len(SPECIAL_PURPOSE)} special-purpose ranges (private, CGNAT, loopback, link-local, multicast)"
        )
    return text + ". Every other address is foreign."


def _approval(a: Approval) -> str:
    return (
        f"{a.id}, issued by {a.issued_by}, for {', '.join(c.value for c in a.classes)}, scope "
        f"{', '.join(a.scope)}, from {a.valid_from.isoformat()} until {a.valid_until.isoformat()}: {a.purpose}"
    )


def _pseudonyms(policy: Policy) -> str:
    rule = policy.profile.pseudonymize
    if rule.addresses is PseudonymScope.NONE:
        return _SCOPE[rule.addresses]
    method = _METHOD[rule.method]
    if rule.method is PseudonymMethod.TRUNCATE:
        method += f" to /{rule.truncate_v4} (IPv4) and /{rule.truncate_v6} (IPv6)"
    keys = ", ".join(f"{k.id} from {k.valid_from.date().isoformat()}" for k in policy.keys) or "none given"
    text = f"{_SCOPE[rule.addresses]} with {method}. Keys (the one in force at a flow's start is used): {keys}."
    text += " Flow ids are re-keyed with the same key, since a Community ID would reveal the clear addresses."
    if rule.addresses is PseudonymScope.SUBSCRIBER:
        text += " Subscriber prefixes: " + (", ".join(str(n) for n in policy.subscriber) or "none") + "."
    return text
