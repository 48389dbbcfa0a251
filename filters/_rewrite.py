"""One address at a time, as the policy says: the rewriter the capture stripper calls.

A stripped capture must stay a capture, so every replacement is an address of the same
version: Crypto-PAn gives one by construction, truncation gives the network address, and
HMAC gives the digest's first 4 or 16 bytes. Which addresses are replaced is the profile's
scope, exactly as in the gate; the key is the policy's newest (a capture is rewritten as a
whole, under one key, recorded in the ledger entry of the strip).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

import pyarrow as pa

from filters._gate import make_pseudonymizer
from filters._hmac import HmacPseudonymizer
from filters._truncate import PrefixTruncator
from policies import (
    SPECIAL_PURPOSE,
    GateViolation,
    KeyRing,
    Policy,
    PolicyError,
    PseudonymScope,
    SpecialPurpose,
    in_prefixes,
    parse_addresses,
)


def address_rewriter(policy: Policy, keys: KeyRing) -> tuple[Callable[[str], str], str | None]:
    """The rewrite function and the id of the key it uses (None when nothing is replaced)."""
    scope = policy.profile.pseudonymize.addresses
    if scope is PseudonymScope.NONE:
        return (lambda address: address), None
    if not keys.keys:
        raise PolicyError("the policy pseudonymizes addresses but references no key", field="keys")
    key = keys.keys[-1]
    pseudonymizer = make_pseudonymizer(policy, key)
    domestic = policy.domestic
    if policy.profile.special_purpose is SpecialPurpose.DOMESTIC:
        domestic = (*domestic, *SPECIAL_PURPOSE)
    targets = {PseudonymScope.DOMESTIC: domestic, PseudonymScope.SUBSCRIBER: policy.subscriber}.get(scope)

    @lru_cache(maxsize=1 << 16)
    def rewrite(address: str) -> str:
        one = pa.array([address], pa.string())
        if targets is not None and not in_prefixes(parse_addresses(one), targets)[0]:
            return address
        if isinstance(pseudonymizer, HmacPseudonymizer):
            digest = bytes(pseudonymizer.digests(parse_addresses(one))[0])
            version = ipaddress.ip_address(address).version
            return str(ipaddress.ip_address(digest[: 4 if version == 4 else 16]))
        text = str(pseudonymizer.pseudonymize(one)[0])
        if isinstance(pseudonymizer, PrefixTruncator):
            text = text.split("/", 1)[0]
        try:
            ipaddress.ip_address(text)
        except ValueError as exc:
            raise GateViolation(f"the pseudonym of an address is no address: {text!r}") from exc
        return text

    return rewrite, key.id
