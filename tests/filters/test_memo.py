"""The pseudonym memo gives exactly what computing afresh gives, and stays bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from filters._cryptopan import CryptoPan
from filters._memo import NumberMemo

KEY = bytes(range(32))


@given(st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=30, unique=True), min_size=1, max_size=6))
def test_memo_answers_like_the_computation(batches: list[list[int]]) -> None:
    calls: list[int] = []

    def compute(words: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        calls.append(len(words[0]))
        return (words[0] * np.uint64(7) + np.uint64(1), words[1] ^ np.uint64(5))

    memo = NumberMemo(2, limit=50)
    seen: set[int] = set()
    for batch in batches:
        hi = np.array(batch, np.uint64)
        lo = hi % np.uint64(3)  # equal low words: only the full address may decide a hit
        out_hi, out_lo = memo.apply((hi, lo), compute)
        assert (out_hi == hi * np.uint64(7) + np.uint64(1)).all() and (out_lo == lo ^ np.uint64(5)).all()
        assert len(memo) <= 50
        seen |= set(batch)
    assert sum(calls) <= sum(len(b) for b in batches)


def test_crypto_pan_with_memo_equals_without() -> None:
    rng = np.random.default_rng(3)
    warm, fresh = CryptoPan(KEY, "k"), CryptoPan(KEY, "k")
    for _ in range(4):
        v4 = rng.integers(0, 2**32, 500, dtype=np.uint64).astype(np.uint32)
        hi = rng.integers(0, 2**63, 300, dtype=np.uint64)
        lo = rng.integers(0, 2**63, 300, dtype=np.uint64)
        assert (warm._memo4.apply((v4.astype(np.uint64),), warm._v4_words)[0] == fresh.anonymize_ipv4(v4)).all()
        got = warm._memo6.apply((hi, lo), warm._v6_words)
        want = fresh.anonymize_ipv6(hi, lo)
        assert (got[0] == want[0]).all() and (got[1] == want[1]).all()
    assert len(warm._memo4) > 0
