"""Policy files to a resolved :class:`Policy`: a built-in profile, narrowed by a site's file.

A site policy ``extends`` one of the profiles shipped in ``policies/profiles/`` and may only
narrow it: fewer fields, a shorter retention, more addresses pseudonymized. It adds what a
profile cannot know: the domestic (and subscriber) address space, approvals, key references
and partner agreements. Every error names the file, the line and the field path.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from policies._errors import PolicyError
from policies._models import (
    AddressSpace,
    Approval,
    Handling,
    KeyRef,
    Network,
    PartnerAgreement,
    Profile,
    PseudonymScope,
    SitePolicy,
)
from policies._yaml import Lines, line_of, load_yaml

_M = TypeVar("_M", bound=BaseModel)
_SCOPE_ORDER = [PseudonymScope.NONE, PseudonymScope.SUBSCRIBER, PseudonymScope.DOMESTIC, PseudonymScope.ALL]


@dataclass(frozen=True)
class Policy:
    """A policy ready for decisions: the effective profile and everything the site added."""

    name: str
    profile: Profile
    source: str
    domestic: tuple[Network, ...] = ()
    subscriber: tuple[Network, ...] = ()
    approvals: tuple[Approval, ...] = ()
    keys: tuple[KeyRef, ...] = ()
    partners: tuple[PartnerAgreement, ...] = ()
    base_profile: str = ""
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """SHA-256 of the effective policy in canonical JSON: what the ledger records."""
        body = {
            "name": self.name,
            "base_profile": self.base_profile,
            "profile": self.profile.model_dump(mode="json"),
            "domestic": [str(n) for n in self.domestic],
            "subscriber": [str(n) for n in self.subscriber],
            "approvals": [a.model_dump(mode="json") for a in self.approvals],
            "keys": [k.model_dump(mode="json") for k in self.keys],
            "partners": [p.model_dump(mode="json") for p in self.partners],
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def check_current(self, now: datetime) -> None:
        """Refuse a policy holding an approval that has expired: renew it or take it out."""
        for approval in self.approvals:
            if approval.valid_until <= now:
                raise PolicyError(
                    f"approval {approval.id} expired on {approval.valid_until.isoformat()}; "
                    "renew it or remove it from the policy",
                    path=self.source,
                    line=self.lines.get(f"approval:{approval.id}"),
                    field="approvals",
                )

    def partner(self, name: str) -> PartnerAgreement:
        for agreement in self.partners:
            if agreement.partner == name:
                return agreement
        raise PolicyError(f"no agreement with partner {name!r}", path=self.source, field="partners")


def builtin_profiles() -> tuple[str, ...]:
    """The names of the profiles shipped with metagate."""
    folder = files("policies") / "profiles"
    return tuple(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))


def load_profile(name: str) -> Profile:
    """A built-in profile by name (``jp-acd``, ``us-cisa2015``, ``strict``)."""
    if name not in builtin_profiles():
        raise PolicyError(f"no built-in profile {name!r}; there are {', '.join(builtin_profiles())}", field="extends")
    resource = files("policies") / "profiles" / f"{name}.yaml"
    text = resource.read_text(encoding="utf-8")
    where = f"builtin:{name}"
    data, lines = load_yaml(text, where)
    return _validate(Profile, data, lines, where)


def load_policy(spec: str | Path) -> Policy:
    """A site policy file, a profile file, or the name of a built-in profile."""
    path = Path(spec)
    if not path.exists() and str(spec) in builtin_profiles():
        profile = load_profile(str(spec))
        return Policy(name=profile.name, profile=profile, source=f"builtin:{spec}", base_profile=profile.name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy: {exc}", path=path) from exc
    data, lines = load_yaml(text, path)
    if not isinstance(data, dict):
        raise PolicyError("a policy is a mapping of fields", path=path, line=1)
    if "extends" not in data:
        profile = _validate(Profile, data, lines, path)
        return Policy(name=profile.name, profile=profile, source=str(path), base_profile=profile.name)
    site = _validate(SitePolicy, data, lines, path)
    return _resolve(site, path, lines)


def _resolve(site: SitePolicy, path: Path, lines: Lines) -> Policy:
    if site.extends not in builtin_profiles():
        raise PolicyError(
            f"no built-in profile {site.extends!r}; there are {', '.join(builtin_profiles())}",
            path=path,
            line=line_of(lines, ("extends",)),
            field="extends",
        )
    base = load_profile(site.extends)
    changes: dict[str, Any] = {"name": f"{base.name}+{site.name}"}
    if site.fields is not None:
        for i, name in enumerate(site.fields):
            if name not in base.fields:
                raise PolicyError(
                    f"field {name!r} is not allowed by profile {base.name}; a site may only narrow its profile",
                    path=path,
                    line=line_of(lines, ("fields", i)),
                    field=f"fields.{i}",
                )
        changes["fields"] = site.fields
    if site.retention is not None:
        if site.retention.days > base.retention.days:
            raise PolicyError(
                f"{site.retention.days} days is longer than profile {base.name} allows ({base.retention.days})",
                path=path,
                line=line_of(lines, ("retention", "days")),
                field="retention.days",
            )
        changes["retention"] = site.retention
    if site.pseudonymize is not None:
        if _SCOPE_ORDER.index(site.pseudonymize.addresses) < _SCOPE_ORDER.index(base.pseudonymize.addresses):
            raise PolicyError(
                f"pseudonymizes fewer addresses than profile {base.name} ({base.pseudonymize.addresses.value})",
                path=path,
                line=line_of(lines, ("pseudonymize", "addresses")),
                field="pseudonymize.addresses",
            )
        changes["pseudonymize"] = site.pseudonymize
    profile = base.model_copy(update=changes)
    for i, approval in enumerate(site.approvals):
        for j, cls in enumerate(approval.classes):
            if profile.classes[cls] is Handling.NEVER:
                raise PolicyError(
                    f"profile {base.name} never allows {cls.value} traffic; no approval can cover it",
                    path=path,
                    line=line_of(lines, ("approvals", i, "classes", j)),
                    field=f"approvals.{i}.classes.{j}",
                )
    # truncation needs a key too: the flow ids of pseudonymized records are re-keyed with it
    needs_key = profile.pseudonymize.addresses is not PseudonymScope.NONE
    if needs_key and not site.keys:
        raise PolicyError(
            f"profile {base.name} pseudonymizes {profile.pseudonymize.addresses.value} addresses with "
            f"{profile.pseudonymize.method.value}: the policy must reference a key",
            path=path,
            line=line_of(lines, ()),
            field="keys",
        )
    domestic = _networks(site.domestic, "domestic", path, lines)
    if not domestic:
        raise PolicyError(
            "the domestic address space is empty", path=path, line=line_of(lines, ("domestic",)), field="domestic"
        )
    known_keys = {k.id for k in site.keys}
    for i, agreement in enumerate(site.partners):
        if agreement.pseudonym_key is not None and agreement.pseudonym_key not in known_keys:
            raise PolicyError(
                f"partner {agreement.partner}: no key {agreement.pseudonym_key!r} among the policy's keys",
                path=path,
                line=line_of(lines, ("partners", i, "pseudonym_key")),
                field=f"partners.{i}.pseudonym_key",
            )
    return Policy(
        name=profile.name,
        profile=profile,
        source=str(path),
        domestic=domestic,
        subscriber=_networks(site.subscriber, "subscriber", path, lines),
        approvals=site.approvals,
        keys=site.keys,
        partners=site.partners,
        base_profile=base.name,
        lines={f"approval:{a.id}": line_of(lines, ("approvals", i)) or 0 for i, a in enumerate(site.approvals)},
    )


def _networks(space: AddressSpace, what: str, path: Path, lines: Lines) -> tuple[Network, ...]:
    networks = [ipaddress.ip_network(p) for p in space.prefixes]
    for i, name in enumerate(space.files):
        listed = path.parent / name
        try:
            text = listed.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(
                f"cannot read the prefix list {listed}: {exc}",
                path=path,
                line=line_of(lines, (what, "files", i)),
                field=f"{what}.files.{i}",
            ) from exc
        for number, raw in enumerate(text.splitlines(), start=1):
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=True))
            except ValueError as exc:
                raise PolicyError(f"not an address prefix: {entry!r}", path=listed, line=number) from exc
    return tuple(sorted(set(networks), key=lambda n: (n.version, n.network_address, n.prefixlen)))


def _validate(model: type[_M], data: Any, lines: Lines, path: str | Path) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        dotted = ".".join(str(part) for part in loc)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field {loc[-1]!r} (a misspelling? unknown fields are errors)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PolicyError(message + more, path=path, line=line_of(lines, loc), field=dotted or None) from exc
