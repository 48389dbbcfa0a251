"""Community ID against the reference implementation (the communityid package)."""

from __future__ import annotations

import ipaddress

import communityid
from hypothesis import given
from hypothesis import strategies as st

from collectors import community_id, icmp_ports

_REFERENCE = communityid.CommunityID()

ports = st.integers(min_value=0, max_value=65535)
v4 = st.integers(min_value=0, max_value=2**32 - 1).map(lambda n: ipaddress.IPv4Address(n).packed)
v6 = st.integers(min_value=0, max_value=2**128 - 1).map(lambda n: ipaddress.IPv6Address(n).packed)


def _reference(proto: int, src: bytes, dst: bytes, sport: int, dport: int) -> str:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if proto in (6, 17, 132):
        tpl = communityid.FlowTuple(proto, str(s), str(d), sport, dport)
    elif proto == 1:
        tpl = communityid.FlowTuple.make_icmp(str(s), str(d), sport, dport)
    elif proto == 58:
        tpl = communityid.FlowTuple.make_icmp6(str(s), str(d), sport, dport)
    else:
        tpl = communityid.FlowTuple.make_ip(str(s), str(d), proto)
    return str(_REFERENCE.calc(tpl))


@given(st.sampled_from([6, 17, 132, 47, 4]), v4, v4, ports, ports)
def test_ipv4_matches_reference(proto: int, src: bytes, dst: bytes, sport: int, dport: int) -> None:
    ours = community_id(proto, src, dst, sport, dport)
    assert ours == _reference(proto, src, dst, sport, dport)
    assert ours == community_id(proto, dst, src, dport, sport), "both directions hash alike"


@given(st.sampled_from([6, 17, 41]), v6, v6, ports, ports)
def test_ipv6_matches_reference(proto: int, src: bytes, dst: bytes, sport: int, dport: int) -> None:
    assert community_id(proto, src, dst, sport, dport) == _reference(proto, src, dst, sport, dport)


@given(st.sampled_from([1, 58]), v4 | v6, st.integers(0, 255), st.integers(0, 255))
def test_icmp_matches_reference(proto: int, src: bytes, icmp_type: int, code: int) -> None:
    dst = bytes(reversed(src))
    sport, dport, _ = icmp_ports(proto, icmp_type, code)
    assert community_id(proto, src, dst, sport, dport) == _reference(proto, src, dst, icmp_type, code)


def test_echo_request_and_reply_share_an_id() -> None:
    a, b = bytes([10, 0, 0, 1]), bytes([192, 0, 2, 9])
    request = icmp_ports(1, 8, 0)
    reply = icmp_ports(1, 0, 0)
    assert community_id(1, a, b, request[0], request[1]) == community_id(1, b, a, reply[0], reply[1])
    assert community_id(1, a, b, 8, 0) == _reference(1, a, b, 8, 0)
