"""The pseudonym memo: the column the pseudonymizer itself gives, batch after batch, and fail closed.

Every case is held to ``pc.replace_with_mask`` over ``pseudonymize_parsed`` (what the gate
did before the memo), for the three pseudonymizers, with nulls, slices, resets and errors.
"""

from __future__ import annotations

import ipaddress
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from filters._cryptopan import CryptoPan
from filters._hmac import HmacPseudonymizer
from filters._pseudomemo import PseudonymMemo
from filters._pseudonymizer import Pseudonymizer
from filters._textaddr import parse_column
from filters._truncate import PrefixTruncator
from policies import GateViolation, ParsedAddresses

KEY = bytes(range(32))


def _pseudonymizers() -> list[Pseudonymizer]:
    return [CryptoPan(KEY, "k1"), HmacPseudonymizer(KEY, "k2"), PrefixTruncator(20, 56)]


def _addresses(rng: random.Random, n: int, pool: int) -> list[str | None]:
    v4 = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(pool)]
    v6 = [str(ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(rng.choice([16, 64, 96]))))
          for _ in range(pool)]  # fmt: skip
    v6 += ["::ffff:192.0.2.7", "::1.2.3.4"]  # the dotted forms
    out: list[str | None] = []
    for _ in range(n):
        k = rng.random()
        out.append(None if k < 0.02 else rng.choice(v6) if k < 0.3 else rng.choice(v4))
    return out


def _reference(p: Pseudonymizer, values: pa.Array, parsed: ParsedAddresses, targets: np.ndarray) -> pa.Array:
    return pc.replace_with_mask(values, pa.array(targets), p.pseudonymize_parsed(parsed.select(targets)))


@pytest.mark.parametrize("which", range(3))
@pytest.mark.parametrize("limit", [1 << 19, 300])  # 300: the memo starts again empty batch after batch
def test_batch_after_batch_the_memo_gives_the_pseudonymizers_column(which: int, limit: int) -> None:
    rng = random.Random(which * 7 + limit)
    memo = PseudonymMemo(_pseudonymizers()[which], limit=limit)
    plain = _pseudonymizers()[which]
    for batch in range(8):
        texts = _addresses(rng, 2_000, 150)
        arr = pa.array(texts, pa.string())
        if batch % 3 == 1:  # a slice: offsets and validity start inside the buffers
            arr = pa.array(["pad"] * 13 + texts, pa.string()).slice(13)
        parsed = parse_column(arr)
        targets = (parsed.version != 0) & (np.array([rng.random() < 0.7 for _ in texts]))
        if limit == 300:
            targets[400:] = False  # at most the limit, so the memo path is taken
        got = memo.replace(arr, parsed, targets)
        want = _reference(plain, arr, parsed, targets)
        assert got.type == pa.string() and got.equals(want)
        assert got.null_count == arr.null_count
        assert len(memo) <= limit
    assert len(memo) > 0


def test_more_targets_than_the_limit_go_the_plain_way() -> None:
    rng = random.Random(3)
    arr = pa.array(_addresses(rng, 1_000, 500))
    parsed = parse_column(arr)
    targets = parsed.version != 0
    memo = PseudonymMemo(CryptoPan(KEY, "k"), limit=100)
    assert memo.replace(arr, parsed, targets).equals(_reference(CryptoPan(KEY, "k"), arr, parsed, targets))
    assert len(memo) == 0


def test_a_targeted_value_that_is_no_address_stops_the_batch() -> None:
    arr = pa.array(["192.0.2.1", "not an address", None])
    parsed = parse_column(arr)
    memo = PseudonymMemo(CryptoPan(KEY, "k"))
    for targets in ([True, True, False], [True, False, True]):
        with pytest.raises(GateViolation, match="not an IP address"):
            memo.replace(arr, parsed, np.array(targets))
    assert len(memo) == 0
    # rows that are not targeted keep their own text, nulls and non-addresses alike
    out = memo.replace(arr, parsed, np.array([True, False, False]))
    assert out.to_pylist()[1:] == ["not an address", None]


class _Broken:
    """A pseudonymizer that loses a pseudonym once, then behaves."""

    method = "broken"
    key_id = "b"

    def __init__(self) -> None:
        self.inner = CryptoPan(KEY, "b")
        self.fail = True

    def pseudonymize(self, addresses: pa.Array) -> pa.Array:
        return self.inner.pseudonymize(addresses)

    def pseudonymize_parsed(self, parsed: ParsedAddresses) -> pa.Array:
        out = self.inner.pseudonymize_parsed(parsed)
        if self.fail:
            self.fail = False
            return out.slice(1)
        return out


def test_a_failing_pseudonymizer_leaves_no_address_without_its_pseudonym() -> None:
    broken = _Broken()
    memo = PseudonymMemo(broken)
    arr = pa.array(["192.0.2.1", "198.51.100.2", "2001:db8::1"])
    parsed = parse_column(arr)
    targets = np.ones(3, np.bool_)
    with pytest.raises(GateViolation, match="2 pseudonyms for 3 addresses"):
        memo.replace(arr, parsed, targets)
    assert len(memo) == 0  # forgotten: the next batch asks again
    want = CryptoPan(KEY, "b").pseudonymize_parsed(parsed)
    assert memo.replace(arr, parsed, targets).equals(want)
    assert memo.replace(arr, parsed, targets).equals(want)  # now from the memo


def test_every_pseudonymizer_gives_each_new_address_what_it_gives_in_a_column() -> None:
    rng = random.Random(9)
    arr = pa.array(sorted({t for t in _addresses(rng, 3_000, 400) if t is not None}))
    distinct = parse_column(arr)
    for p in _pseudonymizers():
        each = p.pseudonymize_each(distinct)  # type: ignore[attr-defined]
        assert each.equals(p.pseudonymize_parsed(distinct))


def test_ipv6_upper_halves_shared_by_many_addresses() -> None:
    """The first 64 Crypto-PAn blocks are encrypted once per upper half: the answer is the same."""
    from tests.filters.test_cryptopan import reference

    rng = random.Random(4)
    uppers = [rng.getrandbits(64) for _ in range(3)]
    numbers = [(rng.choice(uppers) << 64) | rng.getrandbits(64) for _ in range(60)]
    hi = np.array([n >> 64 for n in numbers], np.uint64)
    lo = np.array([n & ((1 << 64) - 1) for n in numbers], np.uint64)
    out_hi, out_lo = CryptoPan(KEY, "k").anonymize_ipv6(hi, lo)
    got = [(int(h) << 64) | int(low) for h, low in zip(out_hi, out_lo, strict=True)]
    assert got == [reference(KEY, n, 128) for n in numbers]
