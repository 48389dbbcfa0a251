"""Pseudonyms remembered across batches, looked up with numpy: subscribers recur all day.

Crypto-PAn costs 32 (IPv4) or 128 (IPv6) AES blocks an address; a tap sees the same
subscribers and servers batch after batch. The memo keeps the addresses it has seen as a
sorted array of 64-bit keys (the IPv4 address itself, or a mix of the two IPv6 words) with
the full address and its pseudonym beside each; a lookup is one ``searchsorted`` and an
equality check of the full address, so a key collision is only a miss, never a wrong
pseudonym. It is bounded: past ``limit`` entries it starts again empty, so memory stays
flat (4M entries are about 160 MiB for IPv6, less for IPv4).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

_U64 = npt.NDArray[np.uint64]
_MIX = np.uint64(0x9E3779B97F4A7C15)
Words = tuple[_U64, ...]


class NumberMemo:
    """Addresses as tuples of uint64 words -> pseudonyms as the same tuples."""

    def __init__(self, width: int, limit: int = 1 << 22) -> None:
        self.width = width
        self.limit = limit
        self._keys = np.empty(0, np.uint64)
        self._addr: list[_U64] = [np.empty(0, np.uint64) for _ in range(width)]
        self._pseud: list[_U64] = [np.empty(0, np.uint64) for _ in range(width)]

    def __len__(self) -> int:
        return len(self._keys)

    def _key(self, words: Words) -> _U64:
        key = words[0].copy()
        for w in words[1:]:
            key = key * _MIX ^ w
        return key

    def apply(self, words: Words, compute: Callable[[Words], Words]) -> Words:
        """The pseudonyms of distinct addresses ``words``: remembered ones looked up, the rest computed."""
        n = len(words[0])
        keys = self._key(words)
        at = np.minimum(np.searchsorted(self._keys, keys), max(len(self._keys) - 1, 0))
        hit = np.zeros(n, np.bool_)
        if len(self._keys):
            hit = self._keys[at] == keys
            for stored, w in zip(self._addr, words, strict=True):
                hit &= stored[at] == w
        out = [np.empty(n, np.uint64) for _ in range(self.width)]
        for o, stored in zip(out, self._pseud, strict=True):
            o[hit] = stored[at[hit]]
        miss = ~hit
        if miss.any():
            fresh = compute(tuple(w[miss] for w in words))
            for o, f in zip(out, fresh, strict=True):
                o[miss] = f
            self._remember(keys[miss], tuple(w[miss] for w in words), fresh)
        return tuple(out)

    def _remember(self, keys: _U64, words: Words, pseudonyms: Words) -> None:
        if len(self._keys) + len(keys) > self.limit:
            self._keys = np.empty(0, np.uint64)
            self._addr = [np.empty(0, np.uint64) for _ in range(self.width)]
            self._pseud = [np.empty(0, np.uint64) for _ in range(self.width)]
        order = np.argsort(keys)  # only the new ones are sorted; they are inserted into the sorted memo
        keys = keys[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._addr = [np.insert(a, at, w[order]) for a, w in zip(self._addr, words, strict=True)]
        self._pseud = [np.insert(p, at, q[order]) for p, q in zip(self._pseud, pseudonyms, strict=True)]
