"""The address codec against its Python twins: ipaddress, inet_pton and inet_ntop."""

from __future__ import annotations

import ipaddress
import socket

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import GateViolation, PolicyError
from policies._addresses import (
    ParsedAddresses,
    PrefixSet,
    encode_distinct,
    format_addresses,
    format_ipv4,
    format_ipv6,
    in_prefixes,
    parse_addresses,
    parse_distinct,
)

ALL64 = (1 << 64) - 1
v4_ints = st.integers(0, 2**32 - 1)
# groups that are often zero, so that "::" and its ties and edges come up
_group = st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8]) | st.integers(0, 0xFFFF)
v6_ints = st.lists(_group, min_size=8, max_size=8).map(lambda g: int.from_bytes(np.array(g, ">u2").tobytes(), "big"))
v6_ints |= st.integers(0, 2**128 - 1)
v6_ints |= st.integers(0, 2**32 - 1).flatmap(lambda low: st.sampled_from([low, (0xFFFF << 32) | low]))


def _ntop(n: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, n.to_bytes(16, "big"))


def _in_dotted_ranges(n: int) -> bool:
    """IPv4-compatible or -mapped: where glibc (and the collectors) write a dotted tail."""
    return n >> 32 in (0, 0xFFFF)


def _expected(text: str) -> tuple[int, int]:
    """(version, value) as ipaddress reads the text; (0, 0) for no address or a zone index."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return 0, 0
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return 0, 0
    return address.version, int(address)


def _values(parsed: ParsedAddresses) -> list[tuple[int, int]]:
    return [
        (int(v), int(a) if v == 4 else (int(h) << 64) | int(lo) if v == 6 else 0)
        for v, a, h, lo in zip(parsed.version, parsed.v4, parsed.v6_hi, parsed.v6_lo, strict=True)
    ]


# ---------------------------------------------------------------- parsing


def test_parses_rows_and_repeats() -> None:
    column = pa.array(["192.0.2.1", "2001:db8::1", None, "192.0.2.1", "2001:DB8:0:0::1", "not an address"])
    parsed = parse_addresses(column)
    assert len(parsed) == 6
    assert parsed.version.tolist() == [4, 6, 0, 4, 6, 0]
    assert parsed.v4.tolist() == [0xC0000201, 0, 0, 0xC0000201, 0, 0]
    assert parsed.v6_hi.tolist() == [0, 0x20010DB800000000, 0, 0, 0x20010DB800000000, 0]
    assert parsed.v6_lo.tolist() == [0, 1, 0, 0, 1, 0]
    dtypes = [str(a.dtype) for a in (parsed.version, parsed.v4, parsed.v6_hi, parsed.v6_lo)]
    assert dtypes == ["uint8", "uint32", "uint64", "uint64"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 192.0.2.1",
        "192.0.2.1 ",
        "192.0.2.1\n",
        "01.2.3.4",
        "1.2.3.04",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "192.0.2.0/24",
        "0x7f.0.0.1",
        "١٩٢.0.2.1",
        "fe80::1%eth0",
        "1::2::3",
        "::g",
        "1:2:3:4:5:6:7:8:9",
        "2001:db8::/32",
        "::01.2.3.4",
        ":::",
        "12345::",
        "ab\x00::",
    ],
)
def test_invalid_values_are_version_0(text: str) -> None:
    parsed = parse_addresses(pa.array(["192.0.2.1", text, "::1"]))
    assert parsed.version.tolist() == [4, 0, 6]
    assert (parsed.v4[1], parsed.v6_hi[1], parsed.v6_lo[1]) == (0, 0, 0)


_address_chars = st.sampled_from([*"0123456789abcdefABCDEF.:%/ x", "::", "255", "0000", "ffff", "1.2.3.4"])


@given(st.lists(st.lists(_address_chars, max_size=14).map("".join) | st.text(max_size=10), max_size=30))
def test_parse_agrees_with_ipaddress_on_any_text(texts: list[str]) -> None:
    assert _values(parse_addresses(pa.array(texts, pa.string()))) == [_expected(t) for t in texts]


_written = st.one_of(
    v4_ints.map(lambda n: str(ipaddress.IPv4Address(n))),
    v6_ints.map(lambda n: str(ipaddress.IPv6Address(n))),
    v6_ints.map(lambda n: ipaddress.IPv6Address(n).exploded.upper()),
    v6_ints.map(_ntop),
)


@given(st.lists(_written, max_size=40))
def test_parse_agrees_with_ipaddress_on_addresses(texts: list[str]) -> None:
    assert _values(parse_addresses(pa.array(texts, pa.string()))) == [_expected(t) for t in texts]


def test_nulls_and_empty_columns() -> None:
    assert parse_addresses(pa.array([None, None], pa.string())).version.tolist() == [0, 0]
    assert parse_addresses(pa.nulls(3)).version.tolist() == [0, 0, 0]
    assert len(parse_addresses(pa.array([], pa.string()))) == 0
    assert len(parse_addresses(pa.chunked_array([], pa.string()))) == 0


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["10.0.0.1", None, "::1"], pa.large_string()),
        pa.array(["10.0.0.1", None, "::1"], pa.string_view()),
        pa.array(["10.0.0.1", None, "::1"]).dictionary_encode(),
        pa.chunked_array([["10.0.0.1"], [None, "::1"]]),
        pa.array(["x", "10.0.0.1", None, "::1"]).slice(1),
    ],
    ids=["large_string", "string_view", "dictionary", "chunked", "sliced"],
)
def test_every_text_layout(column: pa.Array | pa.ChunkedArray) -> None:
    parsed = parse_addresses(column)
    assert parsed.version.tolist() == [4, 0, 6]
    assert parsed.v4.tolist() == [0x0A000001, 0, 0]
    assert parsed.v6_lo.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "column", [pa.array([1, 2]), pa.array([b"\xc0\x00\x02\x01"]), pa.array([1]).dictionary_encode(), ["192.0.2.1"]]
)
def test_a_column_that_is_no_text_is_an_error(column: object) -> None:
    with pytest.raises(GateViolation, match="must be an Arrow string array"):
        parse_addresses(column)


def test_encode_distinct_uses_each_value_once() -> None:
    column = pa.DictionaryArray.from_arrays(pa.array([1, None, 1, 2]), pa.array(["unused", "10.0.0.1", "::1"]))
    encoded = encode_distinct(column)
    assert encoded.dictionary.to_pylist() == ["10.0.0.1", "::1"]
    assert encoded.indices.to_pylist() == [0, None, 0, 1]
    assert parse_distinct(pa.array(["10.0.0.1", None])).version.tolist() == [4, 0]


# ---------------------------------------------------------------- formatting


@given(st.lists(v4_ints, max_size=50))
def test_ipv4_round_trip(numbers: list[int]) -> None:
    text = format_ipv4(np.array(numbers, dtype=np.uint32))
    assert text.type == pa.string()
    assert text.to_pylist() == [str(ipaddress.IPv4Address(n)) for n in numbers]
    assert parse_addresses(text).v4.tolist() == numbers


@given(st.lists(v6_ints, max_size=50))
def test_ipv6_writes_what_inet_ntop_writes_and_round_trips(numbers: list[int]) -> None:
    hi = np.array([n >> 64 for n in numbers], dtype=np.uint64)
    lo = np.array([n & ALL64 for n in numbers], dtype=np.uint64)
    text = format_ipv6(hi, lo).to_pylist()
    assert text == [_ntop(n) for n in numbers]
    for n, t in zip(numbers, text, strict=True):
        if not _in_dotted_ranges(n):
            assert t == str(ipaddress.IPv6Address(n))
    parsed = parse_addresses(pa.array(text, pa.string()))
    assert parsed.version.tolist() == [6] * len(numbers)
    assert [(int(h) << 64) | int(lo) for h, lo in zip(parsed.v6_hi, parsed.v6_lo, strict=True)] == numbers


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("1:0:0:0:0:0:0:0", "1::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # the first of two equal runs
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),  # the longer run, not the first
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # one zero group stays
        ("2001:DB8::A", "2001:db8::a"),
        ("::ffff:c000:201", "::ffff:192.0.2.1"),
        ("::c000:201", "::192.0.2.1"),
        ("::ffff:0:0", "::ffff:0.0.0.0"),
        ("::0.0.1.0", "::100"),
    ],
)
def test_rfc5952_text(text: str, canonical: str) -> None:
    assert format_addresses(parse_addresses(pa.array([text]))).to_pylist() == [canonical]


def test_format_addresses_by_version() -> None:
    column = pa.array(["2001:db8::1", "bogus", None, "198.51.100.7"])
    assert format_addresses(parse_addresses(column)).to_pylist() == ["2001:db8::1", None, None, "198.51.100.7"]
    assert format_ipv4(np.zeros(0, np.uint32)).to_pylist() == []
    assert format_ipv6(np.zeros(0, np.uint64), np.zeros(0, np.uint64)).to_pylist() == []


# ---------------------------------------------------------------- prefix lists

_v4_net = st.builds(lambda n, p: ipaddress.IPv4Network((n, p), strict=False), v4_ints, st.integers(0, 32))
_v6_net = st.builds(
    lambda n, p: ipaddress.IPv6Network((n, p), strict=False),
    st.integers(0, 2**128 - 1),
    st.sampled_from([0, 16, 29, 32, 48, 56, 63, 64, 65, 80, 96, 112, 127, 128]) | st.integers(0, 128),
)
_networks = st.lists(_v4_net | _v6_net, max_size=12)


@st.composite
def _prefixes_and_addresses(draw: st.DrawFn) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]]:
    networks = draw(_networks)
    texts = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 3))
        if kind == 0 and networks:  # inside one of the prefixes, or just outside its edge
            net = draw(st.sampled_from(networks))
            host = draw(st.integers(0, net.num_addresses - 1))
            value = (int(net.network_address) + host + draw(st.sampled_from([0, 0, 0, -1, 1]))) % 2**net.max_prefixlen
            texts.append(str(ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value)))
        elif kind == 1:
            texts.append(str(ipaddress.IPv4Address(draw(v4_ints))))
        elif kind == 2:
            texts.append(str(ipaddress.IPv6Address(draw(v6_ints))))
        else:
            texts.append(draw(st.sampled_from(["::ffff:10.1.2.3", "::10.1.2.3", "junk", "0.0.0.0", "::"])))
    return networks, texts


def _in_any(text: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address.version == net.version and address in net for net in networks)


@given(_prefixes_and_addresses())
def test_in_prefixes_agrees_with_ipaddress(
    case: tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]],
) -> None:
    networks, texts = case
    parsed = parse_addresses(pa.array(texts, pa.string()))
    expected = [_in_any(t, networks) for t in texts]
    assert in_prefixes(parsed, networks).tolist() == expected
    assert in_prefixes(parsed, tuple(networks)).tolist() == expected
    assert in_prefixes(parsed, PrefixSet.compile(networks)).tolist() == expected


def test_in_prefixes_examples() -> None:
    networks = [
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("10.1.0.0/16"),  # inside 10/8
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("2001:db9:0:0:1::/80"),
        ipaddress.ip_network("2001:dba::1/128"),
    ]
    texts = [
        "192.0.2.255", "192.0.3.0", "10.255.255.255", "11.0.0.0",
        "2001:db8:ffff::1", "2001:db9::1:0:0:7", "2001:db9::2:0:0:7", "2001:dba::1", "2001:dba::2",
        "::ffff:192.0.2.1", None, "nonsense",
    ]  # fmt: skip
    hits = in_prefixes(parse_addresses(pa.array(texts)), networks)
    assert hits.tolist() == [True, False, True, False, True, True, False, True, False, False, False, False]
    assert hits.dtype == np.bool_
    assert not in_prefixes(parse_addresses(pa.array(texts)), []).any()


def test_a_prefix_that_is_no_network_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not an IPv4Network or IPv6Network"):
        in_prefixes(parse_addresses(pa.array(["10.0.0.1"])), ["10.0.0.0/8"])  # type: ignore[list-item]


@given(st.lists(st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "::", "0.0.0.0", "bad"]),
                max_size=40))  # fmt: skip
def test_distinct_maps_every_row_to_its_own_address(values: list[str]) -> None:
    parsed = parse_addresses(pa.array(values, pa.string()))
    distinct, inverse = parsed.distinct()
    assert len(set(zip(distinct.version, distinct.v4, distinct.v6_hi, distinct.v6_lo, strict=True))) == len(distinct)
    back = distinct.select(inverse)
    for name in ("version", "v4", "v6_hi", "v6_lo"):
        assert (getattr(back, name) == getattr(parsed, name)).all()


@pytest.mark.parametrize(
    ("text", "ok"),
    [("0.0.0.0", True), ("255.255.255.255", True), ("10.0.0.1", True), ("256.1.1.1", False), ("01.2.3.4", False),
     ("1.2.3.00", False), ("1.2.3", False), ("1.2.3.4.5", False), ("1..3.4", False), (" 1.2.3.4", False),
     ("1.2.3.4 ", False), ("1.2.3.4\n", False), ("1.2.3.-4", False), ("１.2.3.4", False), ("999999999.1.1.1", False),
     ("1.2.3.4x", False), ("100.200.250.199", True)],
)  # fmt: skip
def test_dotted_quads_are_strict(text: str, ok: bool) -> None:
    parsed = parse_addresses(pa.array([text, "2001:db8::1", None], pa.string()))
    assert bool(parsed.version[0] == 4) is ok
    if ok:
        assert int(parsed.v4[0]) == int(ipaddress.IPv4Address(text))


@given(st.lists(st.lists(st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "10.0.0.1", "bad", None]),
                         max_size=20), max_size=5))  # fmt: skip
def test_memo_parses_like_parse_addresses(batches: list[list[str | None]]) -> None:
    from policies._addresses import AddressMemo

    memo = AddressMemo(limit=4)  # small: the reset path is taken too
    for batch in batches:
        column = pa.array(batch, pa.string())
        want, got = parse_addresses(column), memo.parse(column)
        for name in ("version", "v4", "v6_hi", "v6_lo"):
            assert (getattr(got, name) == getattr(want, name)).all()
