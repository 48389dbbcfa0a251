"""The compiled text formatting against its Python twins: inet_ntop and community_id."""

from __future__ import annotations

import socket

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from collectors import community_id
from collectors._fasttext import FLOW_ID_LEN, format_flows

_u64 = st.integers(0, 2**64 - 1)
# addresses with long zero runs, mapped and compatible forms, as well as random ones
_v6 = st.one_of(
    st.integers(0, 2**128 - 1),
    st.integers(0, 2**32 - 1).map(lambda v: (0xFFFF << 32) | v),
    st.integers(0, 2**32 - 1),
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8]), min_size=8, max_size=8).map(
        lambda words: int.from_bytes(b"".join(w.to_bytes(2, "big") for w in words), "big")
    ),
)


def _signed(v: int) -> int:
    return v - 2**64 if v >= 2**63 else v


def _format(version: int, proto: int, a: int, b: int, sport: int, dport: int) -> tuple[str, str, str]:
    def halves(v: int) -> tuple[int, int]:
        return _signed(v >> 64), _signed(v & (2**64 - 1))

    (ahi, alo), (bhi, blo) = halves(a), halves(b)
    col = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    addr, off, ids, _, _ = format_flows(col(version), col(proto), col(ahi), col(alo), col(sport), col(bhi),
                                        col(blo), col(dport), col(0), np.zeros((1, 16), dtype=np.int64))
    text = bytes(addr).decode()
    return text[off[0] : off[1]], text[off[1] : off[2]], bytes(ids[:FLOW_ID_LEN]).decode()


@given(_v6, _v6, st.sampled_from([6, 17, 58, 47]), st.integers(0, 65535), st.integers(0, 65535))
def test_ipv6_text_and_flow_id(a: int, b: int, proto: int, sport: int, dport: int) -> None:
    if proto == 47:
        sport = dport = 0
    if proto == 58:
        sport, dport = sport % 256, dport % 256
    orig, resp, flow_id = _format(6, proto, a, b, sport, dport)
    raw_a, raw_b = a.to_bytes(16, "big"), b.to_bytes(16, "big")
    assert orig == socket.inet_ntop(socket.AF_INET6, raw_a)
    assert resp == socket.inet_ntop(socket.AF_INET6, raw_b)
    assert flow_id == community_id(proto, raw_a, raw_b, sport, dport)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from([1, 6, 17, 132, 4]),
       st.integers(0, 255), st.integers(0, 255))
def test_ipv4_text_and_flow_id(a: int, b: int, proto: int, sport: int, dport: int) -> None:
    orig, resp, flow_id = _format(4, proto, a, b, sport, dport)
    assert orig == socket.inet_ntoa(a.to_bytes(4, "big"))
    assert resp == socket.inet_ntoa(b.to_bytes(4, "big"))
    assert flow_id == community_id(proto, a.to_bytes(4, "big"), b.to_bytes(4, "big"), sport, dport)
