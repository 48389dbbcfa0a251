"""HMAC pseudonyms against a reference built from the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filters._hmac import HmacPseudonymizer
from filters._pseudonymizer import Pseudonymizer
from policies import GateViolation, PolicyError

KEY = bytes(range(40, 72))
PSEUDONYM = re.compile(r"h[46]-[a-z2-7]{26}")

addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
)


def reference(key: bytes, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    digest = hmac.new(key, bytes([address.version]) + address.packed, hashlib.sha256).digest()[:16]
    return f"h{address.version}-" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


@given(st.binary(min_size=16, max_size=64), st.lists(addresses, max_size=30))
def test_equals_the_reference(key: bytes, values: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> None:
    out = HmacPseudonymizer(key, "k").pseudonymize(pa.array([str(a) for a in values], pa.string()))
    assert out.type == pa.string()
    assert out.to_pylist() == [reference(key, a) for a in values]


@given(st.lists(addresses, min_size=1, max_size=30))
def test_pseudonyms_are_no_addresses(values: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> None:
    for text in HmacPseudonymizer(KEY, "k").pseudonymize(pa.array([str(a) for a in values])).to_pylist():
        assert PSEUDONYM.fullmatch(text)
        with pytest.raises(ValueError):
            ipaddress.ip_address(text)


def test_a_known_value() -> None:
    # computed once with hmac + base64 by hand; pins the layout (version byte, 16 bytes, base32)
    expected = reference(b"k" * 16, ipaddress.IPv4Address("192.0.2.1"))
    assert HmacPseudonymizer(b"k" * 16, "k").pseudonymize(pa.array(["192.0.2.1"])).to_pylist() == [expected]
    assert expected == "h4-er52h67halfn54sbfb4ht4szay"


def test_versions_never_collide_and_spellings_agree() -> None:
    hp = HmacPseudonymizer(KEY, "k")
    out = hp.pseudonymize(pa.array(["192.0.2.1", "::ffff:192.0.2.1", "::192.0.2.1", "2001:db8::1", "2001:0DB8:0::1"]))
    v4, mapped, compatible, a, b = out.to_pylist()
    assert v4.startswith("h4-") and mapped.startswith("h6-") and compatible.startswith("h6-")
    assert len({v4, mapped, compatible, a}) == 4
    assert a == b


def test_nulls_repeats_and_keys() -> None:
    column = pa.array(["10.0.0.1", None, "10.0.0.1", "10.0.0.2"])
    out = HmacPseudonymizer(KEY, "k").pseudonymize(column).to_pylist()
    assert out[1] is None and out[0] == out[2] != out[3]
    other = HmacPseudonymizer(KEY[:-1] + b"\x00", "k2").pseudonymize(column).to_pylist()
    assert other[0] != out[0] and other[3] != out[3]
    chunked = pa.chunked_array([column[:1], column[1:]])
    assert HmacPseudonymizer(KEY, "k").pseudonymize(chunked).to_pylist() == out


def test_an_invalid_address_stops_the_batch() -> None:
    with pytest.raises(GateViolation, match=r"hmac: not an IP address: 'host\.example'"):
        HmacPseudonymizer(KEY, "k").pseudonymize(pa.array(["10.0.0.1", "host.example"]))


@pytest.mark.parametrize("length", [0, 8, 15])
def test_a_short_key_is_a_policy_error(length: int) -> None:
    key = bytes(range(1, 1 + length))
    with pytest.raises(PolicyError, match=rf"'site' must be at least 16 bytes, not {length}") as caught:
        HmacPseudonymizer(key, "site")
    if length:
        assert key.hex() not in str(caught.value)
    HmacPseudonymizer(bytes(16), "site")  # 16 is enough


def test_the_interface_and_no_key_in_the_repr() -> None:
    hp = HmacPseudonymizer(KEY, "site-2026")
    assert isinstance(hp, Pseudonymizer)
    assert (hp.method, hp.key_id) == ("hmac", "site-2026")
    assert repr(hp) == "HmacPseudonymizer(key_id='site-2026')"
    with pytest.raises(PolicyError, match="must be bytes"):
        HmacPseudonymizer("k" * 32, "k")  # type: ignore[arg-type]  # the wrong type is the point
