"""Legal profiles, approvals, partner agreements, decisions, keys, the audit ledger, and the error tree.

The error tree is imported at once (every room raises it); the rest loads on first use, so
`metagate collect` without a policy does not pay for pydantic and the profile models.
"""

import typing as _typing

from policies._errors import (
    CaptureError,
    ConfigError,
    DecodeError,
    ExchangeError,
    GateViolation,
    MetagateError,
    NotACaptureError,
    PolicyError,
)
from policies._lazy import lazy_attributes

if _typing.TYPE_CHECKING:
    from policies._addresses import (
        ParsedAddresses,
        format_ipv4,
        format_ipv6,
        in_prefixes,
        is_loopback,
        parse_addresses,
    )
    from policies._decisions import (
        CLASSES,
        SPECIAL_PURPOSE,
        DecisionEngine,
        Decisions,
    )
    from policies._explain import (
        explain,
    )
    from policies._keys import (
        KEY_BYTES,
        Key,
        KeyRing,
        load_keys,
    )
    from policies._ledger import (
        Ledger,
    )
    from policies._ledger_format import (
        LedgerEntry,
    )
    from policies._ledger_keys import (
        load_public_key,
        load_signing_key,
        public_key_id,
        write_public_key,
        write_signing_key,
    )
    from policies._ledger_verify import (
        LedgerProblem,
        LedgerVerification,
        ProblemKind,
        verify_ledger,
    )
    from policies._loader import (
        Policy,
        builtin_profiles,
        load_policy,
        load_profile,
    )
    from policies._models import (
        AddressSpace,
        Approval,
        DomesticSharing,
        Handling,
        KeyRef,
        Network,
        PartnerAgreement,
        Profile,
        Pseudonymization,
        PseudonymMethod,
        PseudonymScope,
        Retention,
        SitePolicy,
        SpecialPurpose,
        Tlp,
        TrafficClass,
    )
    from policies._passwords import (
        check_password_hash,
        hash_password,
        verify_password,
    )

_LAZY: dict[str, str] = {
    "AddressSpace": "policies._models",
    "Approval": "policies._models",
    "CLASSES": "policies._decisions",
    "DecisionEngine": "policies._decisions",
    "Decisions": "policies._decisions",
    "DomesticSharing": "policies._models",
    "Handling": "policies._models",
    "KEY_BYTES": "policies._keys",
    "Key": "policies._keys",
    "KeyRef": "policies._models",
    "KeyRing": "policies._keys",
    "Ledger": "policies._ledger",
    "LedgerEntry": "policies._ledger_format",
    "LedgerProblem": "policies._ledger_verify",
    "LedgerVerification": "policies._ledger_verify",
    "Network": "policies._models",
    "ParsedAddresses": "policies._addresses",
    "PartnerAgreement": "policies._models",
    "Policy": "policies._loader",
    "ProblemKind": "policies._ledger_verify",
    "Profile": "policies._models",
    "PseudonymMethod": "policies._models",
    "PseudonymScope": "policies._models",
    "Pseudonymization": "policies._models",
    "Retention": "policies._models",
    "SPECIAL_PURPOSE": "policies._decisions",
    "SitePolicy": "policies._models",
    "SpecialPurpose": "policies._models",
    "Tlp": "policies._models",
    "TrafficClass": "policies._models",
    "builtin_profiles": "policies._loader",
    "check_password_hash": "policies._passwords",
    "hash_password": "policies._passwords",
    "verify_password": "policies._passwords",
    "explain": "policies._explain",
    "format_ipv4": "policies._addresses",
    "format_ipv6": "policies._addresses",
    "in_prefixes": "policies._addresses",
    "is_loopback": "policies._addresses",
    "load_keys": "policies._keys",
    "load_policy": "policies._loader",
    "load_profile": "policies._loader",
    "load_public_key": "policies._ledger_keys",
    "load_signing_key": "policies._ledger_keys",
    "parse_addresses": "policies._addresses",
    "public_key_id": "policies._ledger_keys",
    "verify_ledger": "policies._ledger_verify",
    "write_public_key": "policies._ledger_keys",
    "write_signing_key": "policies._ledger_keys",
}


__getattr__ = lazy_attributes("policies", _LAZY, globals())


__all__ = [
    "AddressSpace",
    "Approval",
    "CLASSES",
    "CaptureError",
    "ConfigError",
    "DecisionEngine",
    "Decisions",
    "DecodeError",
    "DomesticSharing",
    "ExchangeError",
    "GateViolation",
    "Handling",
    "KEY_BYTES",
    "Key",
    "KeyRef",
    "KeyRing",
    "Ledger",
    "LedgerEntry",
    "LedgerProblem",
    "LedgerVerification",
    "MetagateError",
    "Network",
    "NotACaptureError",
    "ParsedAddresses",
    "PartnerAgreement",
    "Policy",
    "PolicyError",
    "ProblemKind",
    "Profile",
    "PseudonymMethod",
    "PseudonymScope",
    "Pseudonymization",
    "Retention",
    "SPECIAL_PURPOSE",
    "SitePolicy",
    "SpecialPurpose",
    "Tlp",
    "TrafficClass",
    "builtin_profiles",
    "check_password_hash",
    "explain",
    "format_ipv4",
    "format_ipv6",
    "hash_password",
    "in_prefixes",
    "is_loopback",
    "lazy_attributes",
    "load_keys",
    "load_policy",
    "load_profile",
    "load_public_key",
    "load_signing_key",
    "parse_addresses",
    "public_key_id",
    "verify_ledger",
    "verify_password",
    "write_public_key",
    "write_signing_key",
]
