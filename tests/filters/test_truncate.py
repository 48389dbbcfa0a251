"""Prefix truncation against ipaddress's networks."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filters._pseudonymizer import Pseudonymizer
from filters._truncate import PrefixTruncator
from policies import GateViolation, PolicyError

addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
    st.integers(0, 2**32 - 1).map(lambda n: ipaddress.IPv6Address((0xFFFF << 32) | n)),
)


def test_examples() -> None:
    column = pa.array(["203.0.113.77", "2001:db8:1:2::1", None, "203.0.113.1", "10.9.8.7"])
    out = PrefixTruncator().pseudonymize(column)
    assert out.type == pa.string()
    assert out.to_pylist() == ["203.0.113.0/24", "2001:db8:1::/48", None, "203.0.113.0/24", "10.9.8.0/24"]
    assert PrefixTruncator(16, 32).pseudonymize(column).to_pylist()[:2] == ["203.0.0.0/16", "2001:db8::/32"]
    assert PrefixTruncator(32, 128).pseudonymize(pa.array(["192.0.2.1", "::1"])).to_pylist() == [
        "192.0.2.1/32",
        "::1/128",
    ]
    assert PrefixTruncator(0, 0).pseudonymize(pa.array(["192.0.2.1", "::1"])).to_pylist() == ["0.0.0.0/0", "::/0"]


@given(st.integers(0, 32), st.integers(0, 128), st.lists(addresses, max_size=30))
def test_equals_ipaddress_networks(
    v4: int, v6: int, values: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> None:
    out = PrefixTruncator(v4, v6).pseudonymize(pa.array([str(a) for a in values], pa.string())).to_pylist()
    for address, text in zip(values, out, strict=True):
        length = v4 if address.version == 4 else v6
        network = ipaddress.ip_network(f"{address}/{length}", strict=False)
        assert ipaddress.ip_network(text) == network
        if not (address.version == 6 and int(network.network_address) >> 32 in (0, 0xFFFF)):
            assert text == str(network)  # outside the dotted-tail /96s the text is ipaddress's too


@pytest.mark.parametrize(
    ("v4", "v6"), [(33, 48), (-1, 48), (24, 129), (24, -8), (True, 48), (24.0, 48), ("24", 48), (24, None)]
)
def test_lengths_are_validated(v4: object, v6: object) -> None:
    with pytest.raises(PolicyError, match="prefix truncation"):
        PrefixTruncator(v4, v6)  # type: ignore[arg-type]  # the wrong values are the point


def test_an_invalid_address_stops_the_batch() -> None:
    with pytest.raises(GateViolation, match=r"truncate: not an IP address: '2001:db8::/32'"):
        PrefixTruncator().pseudonymize(pa.array(["2001:db8::1", "2001:db8::/32"]))


def test_the_interface() -> None:
    truncator = PrefixTruncator(20, 40)
    assert isinstance(truncator, Pseudonymizer)
    assert (truncator.method, truncator.key_id) == ("truncate", None)
    assert (truncator.v4_prefix, truncator.v6_prefix) == (20, 40)
    assert repr(truncator) == "PrefixTruncator(v4_prefix=20, v6_prefix=40)"
