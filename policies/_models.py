"""What a policy says, as pydantic models: the legal profile, the site, approvals, keys, partners.

Every model forbids unknown fields: a misspelt key in a policy file is an error, never a
silently ignored line (a gate that fails open because ``pseudonymise`` was spelt the British
way would be the worst kind of bug). Times are timezone-aware UTC; prefixes are parsed once.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_prefix(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError as exc:
        raise ValueError(f"not an address prefix (host bits must be zero): {text!r}") from exc


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs its zone, e.g. 2026-04-01T00:00:00Z")
    return value.astimezone(UTC)


Prefix = Annotated[str, AfterValidator(_parse_prefix)]
UtcTime = Annotated[datetime, AfterValidator(_utc)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class TrafficClass(StrEnum):
    """Where a flow runs, by its two endpoints and the domestic address space."""

    FOREIGN_TO_FOREIGN = "foreign-to-foreign"
    FOREIGN_TO_DOMESTIC = "foreign-to-domestic"
    DOMESTIC_TO_FOREIGN = "domestic-to-foreign"
    DOMESTIC_TO_DOMESTIC = "domestic-to-domestic"


class Handling(StrEnum):
    """What a traffic class needs before a flow of it may pass."""

    NEVER = "never"
    APPROVAL = "approval"
    ALWAYS = "always"


class PseudonymScope(StrEnum):
    """Which addresses a profile pseudonymizes."""

    NONE = "none"
    SUBSCRIBER = "subscriber"
    DOMESTIC = "domestic"
    ALL = "all"


class PseudonymMethod(StrEnum):
    CRYPTOPAN = "cryptopan"
    HMAC = "hmac"
    TRUNCATE = "truncate"


class SpecialPurpose(StrEnum):
    """How private, shared (CGNAT), link-local and loopback space counts."""

    DOMESTIC = "domestic"
    FOREIGN = "foreign"


class Pseudonymization(_Strict):
    addresses: PseudonymScope
    method: PseudonymMethod = PseudonymMethod.CRYPTOPAN
    truncate_v4: int = Field(24, ge=8, le=32)
    truncate_v6: int = Field(48, ge=16, le=128)


class Retention(_Strict):
    days: int = Field(ge=1, le=3650)


class Profile(_Strict):
    """A legal profile: the rules a whole jurisdiction (or a stricter site) imposes."""

    name: Name
    title: str
    law: str
    description: str = ""
    fields: tuple[str, ...] = Field(min_length=1)
    classes: dict[TrafficClass, Handling]
    pseudonymize: Pseudonymization
    retention: Retention
    special_purpose: SpecialPurpose = SpecialPurpose.DOMESTIC
    aggregate_k: int = Field(10, ge=2)

    @model_validator(mode="after")
    def _every_class_decided(self) -> Self:
        missing = [c.value for c in TrafficClass if c not in self.classes]
        if missing:
            raise ValueError(f"classes: no handling given for {', '.join(missing)} (fail closed: say never)")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("fields: a field is listed twice")
        return self


class AddressSpace(_Strict):
    """Prefixes, inline or from files of one prefix a line (``#`` starts a comment)."""

    prefixes: tuple[Prefix, ...] = ()
    files: tuple[str, ...] = ()


class Approval(_Strict):
    """A recorded approval: who allowed which traffic classes, for which prefixes, when, why."""

    id: Name
    issued_by: str = Field(min_length=1)
    classes: tuple[TrafficClass, ...] = Field(min_length=1)
    scope: tuple[Prefix, ...] = Field(min_length=1)
    valid_from: UtcTime
    valid_until: UtcTime
    purpose: str = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class KeyRef(_Strict):
    """Where a pseudonymization key is, never the key: a file or an environment variable."""

    id: Name
    file: str | None = None
    env: str | None = None
    valid_from: UtcTime = datetime(1970, 1, 1, tzinfo=UTC)

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.file is None) == (self.env is None):
            raise ValueError("a key reference names exactly one of file or env")
        return self


class Tlp(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class DomesticSharing(StrEnum):
    """How a partner agreement treats domestic addresses in outbound objects."""

    NEVER = "never"
    PARTNER_PSEUDONYMS = "partner-pseudonyms"


class PartnerAgreement(_Strict):
    """What the exchange may send to one partner, and how (used by exchange/)."""

    partner: Name
    identity: str = Field(min_length=1)
    tlp_ceiling: Tlp = Tlp.AMBER
    indicator_kinds: tuple[str, ...] = Field(min_length=1)
    min_confidence: int = Field(50, ge=0, le=100)
    domestic_addresses: DomesticSharing = DomesticSharing.NEVER
    approvals_required: int = Field(1, ge=1, le=3)
    valid_days: int = Field(30, ge=1, le=3650)
    pseudonym_key: Name | None = None

    @model_validator(mode="after")
    def _key_for_pseudonyms(self) -> Self:
        if self.domestic_addresses is DomesticSharing.PARTNER_PSEUDONYMS and self.pseudonym_key is None:
            raise ValueError("domestic_addresses: partner-pseudonyms needs a pseudonym_key for this partner")
        return self


class SitePolicy(_Strict):
    """A site's policy file: the profile it extends and what it adds."""

    extends: Name
    name: Name
    domestic: AddressSpace
    subscriber: AddressSpace = AddressSpace()
    approvals: tuple[Approval, ...] = ()
    keys: tuple[KeyRef, ...] = ()
    partners: tuple[PartnerAgreement, ...] = ()
    fields: tuple[str, ...] | None = None
    retention: Retention | None = None
    pseudonymize: Pseudonymization | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        for what, ids in (("approvals", [a.id for a in self.approvals]), ("keys", [k.id for k in self.keys])):
            doubled = sorted({i for i in ids if ids.count(i) > 1})
            if doubled:
                raise ValueError(f"{what}: id used twice: {', '.join(doubled)}")
        return self
