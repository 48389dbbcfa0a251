"""One partner agreement, ready for packaging: clauses, domestic addresses, partner pseudonyms.

The agreement (``policies.PartnerAgreement``, in the site policy) says what may go to the
partner: which indicator kinds, from which confidence up, up to which TLP level, and how
domestic addresses are treated:

- ``never``: a domestic address is never part of anything sent; inside parties (the targets
  of an attack, as the gate left them) are sent as counts only;
- ``partner-pseudonyms``: inside parties, and domestic addresses, are sent only as this
  partner's own pseudonyms: HMAC-SHA256 under the partner's key (``pseudonym_key``, one of
  the policy's key references) of the partner's name and the value as the gate left it, as
  ``pp-`` and 26 base32 characters. They cannot be mistaken for addresses, cannot be linked
  to what another partner or our own store holds, and are stable for one partner and key.

A domestic address is never a pattern, in either mode: a pseudonym in an indicator would
point the partner at whoever really has that address.

"Domestic" is the decision engine's: the policy's domestic prefixes, and private, shared,
loopback and link-local space when the profile counts it as domestic.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pyarrow as pa

from exchange._tlp import rank
from policies import (
    DecisionEngine,
    DomesticSharing,
    PartnerAgreement,
    Policy,
    PolicyError,
    Tlp,
    load_keys,
    parse_addresses,
)


class PartnerPseudonyms:
    """This partner's pseudonyms: keyed, unlinkable across partners, never an address."""

    def __init__(self, partner: str, key: bytes, key_id: str) -> None:
        self.partner = partner
        self.key_id = key_id
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"PartnerPseudonyms(partner={self.partner!r}, key_id={self.key_id!r})"

    def __call__(self, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{self.partner}\x00{value}".encode())
        text = base64.b32encode(mac.digest()[:16]).decode("ascii").rstrip("=").lower()
        return f"pp-{text}"


class AgreementView:
    """A policy's agreement with one partner, and what it takes to apply it."""

    def __init__(self, policy: Policy, partner: str) -> None:
        self.policy = policy
        self.agreement: PartnerAgreement = policy.partner(partner)
        self.partner = partner
        self._engine = DecisionEngine(policy)
        self._domestic: dict[str, bool] = {}
        self.pseudonyms: PartnerPseudonyms | None = None
        if self.agreement.domestic_addresses is DomesticSharing.PARTNER_PSEUDONYMS:
            self.pseudonyms = _partner_pseudonyms(policy, self.agreement)

    @property
    def sharing(self) -> DomesticSharing:
        return self.agreement.domestic_addresses

    def clause(self, name: str) -> str:
        """``us-partner:min_confidence=60``: the clause and its value, as reasons name it."""
        value = getattr(self.agreement, name)
        if isinstance(value, tuple):
            return f"{self.partner}:{name}"
        shown = value.value if hasattr(value, "value") else value
        return f"{self.partner}:{name}={shown}"

    def domestic(self, addresses: list[str]) -> list[bool]:
        """For each canonical address, whether it is domestic under the policy (remembered per address)."""
        unknown = [a for a in dict.fromkeys(addresses) if a not in self._domestic]
        if unknown:
            parsed = parse_addresses(pa.array(unknown, pa.string()))
            self._domestic.update(zip(unknown, (bool(x) for x in self._engine.is_domestic(parsed)), strict=True))
        return [self._domestic[a] for a in addresses]

    def allows(self, kind: str) -> bool:
        return kind in self.agreement.indicator_kinds

    def within_ceiling(self, level: Tlp) -> bool:
        return rank(level) <= rank(self.agreement.tlp_ceiling)


def _partner_pseudonyms(policy: Policy, agreement: PartnerAgreement) -> PartnerPseudonyms:
    refs = tuple(k for k in policy.keys if k.id == agreement.pseudonym_key)
    if not refs:
        raise PolicyError(
            f"partner {agreement.partner}: no key {agreement.pseudonym_key!r} among the policy's keys",
            path=policy.source,
            field="partners",
        )
    base = None if policy.source.startswith("builtin:") else Path(policy.source).parent
    ring = load_keys(refs, base=base, source=policy.source)
    key = ring.keys[0]
    return PartnerPseudonyms(agreement.partner, key.material, key.id)
