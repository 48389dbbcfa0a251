"""Prefix truncation: an address replaced by the network around it, "203.0.113.0/24".

The coarsest of the three methods and the only one without a key: what it keeps, anyone
can read, and what it drops, nobody can recover. Useful where a profile allows network
granularity (a /24 or /48) and nothing finer.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters._pseudonymizer import pseudonymize_distinct, pseudonymize_parsed
from policies import PolicyError
from policies._addresses import ParsedAddresses, format_addresses

_ALL64 = (1 << 64) - 1


def _check(name: str, value: object, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise PolicyError(f"prefix truncation: {name} must be a whole number from 0 to {most}, not {value!r}")
    return value


class PrefixTruncator:
    """Keeps the first ``v4_prefix`` / ``v6_prefix`` bits and writes the network."""

    method: Final = "truncate"
    key_id: Final = None

    def __init__(self, v4_prefix: int = 24, v6_prefix: int = 48) -> None:
        self.v4_prefix = _check("v4_prefix", v4_prefix, 32)
        self.v6_prefix = _check("v6_prefix", v6_prefix, 128)
        self._mask4 = np.uint32(((1 << 32) - 1) ^ ((1 << (32 - self.v4_prefix)) - 1))
        mask6 = ((1 << 128) - 1) ^ ((1 << (128 - self.v6_prefix)) - 1)
        self._mask6_hi, self._mask6_lo = np.uint64(mask6 >> 64), np.uint64(mask6 & _ALL64)
        self._suffixes = pa.array([f"/{self.v4_prefix}", f"/{self.v6_prefix}"])

    def __repr__(self) -> str:
        return f"PrefixTruncator(v4_prefix={self.v4_prefix}, v6_prefix={self.v6_prefix})"

    def pseudonymize(self, addresses: pa.Array | pa.ChunkedArray) -> pa.StringArray:
        """The network of each address; nulls stay null, a non-address raises."""
        return pseudonymize_distinct(addresses, self._distinct, self.method)

    def pseudonymize_parsed(self, parsed: ParsedAddresses) -> pa.StringArray:
        """The same for addresses the gate has already parsed."""
        return pseudonymize_parsed(parsed, self._distinct, self.method)

    def pseudonymize_each(self, parsed: ParsedAddresses) -> pa.StringArray:
        """The networks of addresses given once each, all valid (the gate's memo asks so)."""
        return self._distinct(parsed)

    def _distinct(self, parsed: ParsedAddresses) -> pa.StringArray:
        networks = ParsedAddresses(
            parsed.version, parsed.v4 & self._mask4, parsed.v6_hi & self._mask6_hi, parsed.v6_lo & self._mask6_lo
        )
        suffix = self._suffixes.take(pa.array((parsed.version == 6).astype(np.int8)))
        return pc.binary_join_element_wise(format_addresses(networks), suffix, "")
