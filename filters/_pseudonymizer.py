"""What every pseudonymizer of the gate is, and the plumbing the three share.

A pseudonymizer maps an Arrow column of address text to a column of pseudonyms of the
same length, row for row. Nulls stay null. A value that is no address stops the batch with
a GateViolation naming it: it neither passes in clear nor vanishes quietly. Implementations
see each distinct address once, as numbers (flows repeat their endpoints), and
`pseudonymize_distinct` maps their answers back onto the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from policies import GateViolation
from policies._addresses import ParsedAddresses, encode_distinct, parse_distinct

_SHOWN = 3  # invalid values named in a GateViolation; the count says how many more


@runtime_checkable
class Pseudonymizer(Protocol):
    """Addresses in, pseudonyms out: same length, nulls stay null, a non-address raises."""

    @property
    def method(self) -> str:
        """One of "cryptopan", "hmac" or "truncate": written beside every pseudonym it makes."""
        ...

    @property
    def key_id(self) -> str | None:
        """The id of the key in use (never the key); None for a method without a key."""
        ...

    def pseudonymize(self, addresses: pa.Array) -> pa.Array:
        """A string array of pseudonyms, one a row; GateViolation for a non-address."""
        ...

    def pseudonymize_parsed(self, parsed: ParsedAddresses) -> pa.Array:
        """The same for addresses already parsed (the gate parses each column once)."""
        ...


def pseudonymize_distinct(
    addresses: pa.Array | pa.ChunkedArray,
    transform: Callable[[ParsedAddresses], pa.Array],
    method: str,
) -> pa.StringArray:
    """``transform`` applied to each distinct address once, mapped back onto the rows.

    ``transform`` gets the distinct addresses (all valid, version 4 or 6) and returns one
    string a distinct address, in the same order.
    """
    encoded = encode_distinct(addresses)
    distinct = parse_distinct(encoded.dictionary)
    bad = np.flatnonzero(distinct.version == 0)
    if len(bad):
        shown = ", ".join(repr(_clip(encoded.dictionary[int(i)].as_py())) for i in bad[:_SHOWN])
        more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        raise GateViolation(f"{method}: not an IP address: {shown}{more}; the batch does not pass")
    pseudonyms = transform(distinct)
    if len(pseudonyms) != len(distinct):  # a broken transform must not shift rows
        raise GateViolation(f"{method}: {len(pseudonyms)} pseudonyms for {len(distinct)} addresses")
    return pseudonyms.cast(pa.string()).take(encoded.indices)


def pseudonymize_parsed(
    parsed: ParsedAddresses, transform: Callable[[ParsedAddresses], pa.Array], method: str
) -> pa.StringArray:
    """As :func:`pseudonymize_distinct`, for addresses the gate has already parsed."""
    if len(parsed) == 0:
        return pa.array([], pa.string())
    if (parsed.version == 0).any():
        raise GateViolation(f"{method}: a value is not an IP address; the batch does not pass")
    distinct, inverse = parsed.distinct()
    pseudonyms = transform(distinct)
    if len(pseudonyms) != len(distinct):  # a broken transform must not shift rows
        raise GateViolation(f"{method}: {len(pseudonyms)} pseudonyms for {len(distinct)} addresses")
    return pseudonyms.cast(pa.string()).take(pa.array(inverse))


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
