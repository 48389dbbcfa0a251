"""The fast engine against the scapy engine, the oracle: same flows, same problems.

On every golden capture, on generated packet sequences that exercise the flow rules
(timeouts, reuse, eviction, tunnels, fragments), and on mutated frames that exercise the
decoders' edges.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.layers.ppp import PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from collectors import FlowConfig, PacketBatch, make_engine, open_source

PCAPS = sorted((Path(__file__).parent.parent / "data" / "pcaps").glob("*.pcap*"))
_SORT = [("flow_id", "ascending"), ("start", "ascending"), ("tunnel", "ascending"), ("end", "ascending")]


def _run(name: str, batches: list[PacketBatch], config: FlowConfig) -> tuple[pa.Table, dict[str, int]]:
    engine = make_engine(name, config)
    parts = [engine.feed(batch) for batch in batches]
    parts.append(engine.finish())
    return pa.concat_tables(parts).sort_by(_SORT), dict(engine.problems)


def _assert_agree(batches: list[PacketBatch], config: FlowConfig | None = None) -> pa.Table:
    config = config or FlowConfig()
    fast, fast_problems = _run("fast", batches, config)
    oracle, oracle_problems = _run("scapy", batches, config)
    assert fast_problems == oracle_problems
    assert fast.num_rows == oracle.num_rows, (fast.to_pylist(), oracle.to_pylist())
    for name in fast.column_names:
        assert fast[name].to_pylist() == oracle[name].to_pylist(), name
    return fast


@pytest.mark.parametrize("path", PCAPS, ids=[p.name for p in PCAPS])
def test_golden_captures_agree(path: Path) -> None:
    source = open_source(str(path))
    flows = _assert_agree(list(source.batches()))
    assert flows.num_rows > 0


A = ["192.0.2.1", "192.0.2.2", "198.51.100.7"]
A6 = ["2001:db8::1", "2001:db8::2", "::ffff:192.0.2.9"]
T0 = 1_710_000_000_000_000


def _ether() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _outer(v6: bool, src: str, dst: str) -> IP | IPv6:
    return IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    v6 = draw(st.booleans())
    src, dst = draw(st.sampled_from(A6 if v6 else A)), draw(st.sampled_from(A6 if v6 else A))
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst, id=draw(st.integers(0, 3)))
    sport, dport = draw(st.sampled_from([1000, 1001, 80])), draw(st.sampled_from([80, 1000, 53]))
    kind = draw(st.sampled_from(["tcp", "tcp", "tcp", "udp", "icmp", "frag", "vxlan", "gre", "vlan"]))
    payload = Raw(b"p" * draw(st.sampled_from([0, 0, 5, 300])))
    if kind == "tcp":
        flags = draw(st.sampled_from(["S", "SA", "A", "PA", "FA", "R", "RA", "F", "SF"]))
        packet = ip / TCP(sport=sport, dport=dport, flags=flags) / payload
    elif kind == "udp":
        packet = ip / UDP(sport=sport, dport=dport) / payload
    elif kind == "icmp":
        packet = ip / ICMP(type=draw(st.sampled_from([8, 0, 3, 11])), code=draw(st.integers(0, 3)))
    elif kind == "frag":
        whole = ip / UDP(sport=sport, dport=dport) / Raw(b"f" * 64)
        if v6:
            whole = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=7, m=1) / UDP(sport=sport, dport=dport)
            later = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=7, offset=2, nh=17) / Raw(b"f" * 16)
        else:
            whole = IP(src=src, dst=dst, id=7, flags="MF") / UDP(sport=sport, dport=dport)
            later = IP(src=src, dst=dst, id=7, frag=2, proto=17) / Raw(b"f" * 16)
        packet = draw(st.sampled_from([whole, later]))
    elif kind == "vxlan":
        inner = _ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=sport, dport=dport, flags="S")
        packet = _outer(v6, src, dst) / UDP(sport=draw(st.sampled_from([4000, 4001])), dport=4789) / VXLAN(
            vni=draw(st.sampled_from([1, 2]))
        ) / inner
    elif kind == "gre":
        packet = _outer(v6, src, dst) / GRE() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=sport, dport=dport)
    else:
        return bytes(_ether() / Dot1Q(vlan=draw(st.integers(1, 3))) / ip / UDP(sport=sport, dport=dport) / payload)
    return bytes(_ether() / packet)


@st.composite
def _sequence(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    frames = draw(st.lists(_frame(), min_size=1, max_size=30))
    gaps = draw(st.lists(st.sampled_from([0, 1, 1_000, 999_999, 5_000_001, 30_000_000, 61_000_000]),
                         min_size=len(frames), max_size=len(frames)))
    ts, out = T0, []
    for frame, gap in zip(frames, gaps, strict=True):
        ts += gap
        out.append((ts, frame))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sequence(), st.sampled_from([8, 16, 1000]), st.sampled_from([30.0, 60.0]), st.sampled_from([45.0, 1800.0]))
def test_generated_sequences_agree(
    packets: list[tuple[int, bytes]], max_flows: int, idle: float, active: float
) -> None:
    config = FlowConfig(idle_timeouts={"tcp": idle, "udp": idle, "icmp": idle, "other": idle},
                        active_timeout=active, max_flows=max_flows)
    _assert_agree([PacketBatch.from_packets(packets)], config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_frames_agree(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(PCAPS))
    batch = next(iter(open_source(str(path)).batches()))
    frames = []
    for i in range(min(len(batch), 6)):
        frame = bytearray(batch.packet(i))
        for _ in range(data.draw(st.integers(0, 3))):
            if frame:
                frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(frame)))
        frames.append((int(batch.ts_us[i]), bytes(frame[:cut] if data.draw(st.booleans()) else frame)))
    linktype = int(batch.linktype[0])
    _assert_agree([PacketBatch.from_packets(frames, linktype=linktype)])


def _deep(last: object) -> bytes:
    """Four IP-in-IP levels, then ``last`` as the fifth tunnel."""
    packet = IP(src=A[0], dst=A[1])
    for _ in range(4):
        packet = packet / IP(src=A[0], dst=A[1])
    return bytes(_ether() / packet / last)


_VXLAN_IN = _ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="S")
# Found by test_mutated_frames_agree; each is one rule of "Exact edges" (docs/collectors.md).
HOSTILE = {
    "vxlan_past_ip_length": (1, bytes(_ether() / IP(len=40) / UDP(sport=1, dport=4789) / VXLAN(vni=3) / _VXLAN_IN)),
    "vxlan_g_and_p_flags": (1, bytes(_ether() / IP() / UDP(sport=1, dport=4789) / VXLAN(flags=0xFF) / _VXLAN_IN)),
    "ipv6_ext_past_end": (1, bytes(_ether() / IPv6(nh=60, plen=8) / Raw(bytes([59, 1]) + bytes(6)))),
    "ipv6_ah_8_bytes": (1, bytes(_ether() / IPv6(nh=51, plen=8) / Raw(bytes([59, 0]) + bytes(6)))),
    "icmp_timestamp_8_bytes": (1, bytes(_ether() / IP() / ICMP(type=13))[:42]),
    "ppp_compressed_protocol": (1, bytes(_ether() / PPPoE() / Raw(b"\x21") / IP() / UDP())),
    "ppp_hdlc_header": (1, bytes(_ether() / PPPoE() / Raw(b"\xff\x03\x00\x21") / IP() / UDP())),
    "sll_two_tags": (113, bytes(CookedLinux(proto=0x8100) / Dot1Q(vlan=5) / Dot1Q(vlan=7) / IP() / UDP())),
    "ipv6_atomic_fragment": (1, bytes(_ether() / IPv6() / IPv6ExtHdrFragment(id=9) / UDP(dport=4789) / VXLAN()
                                      / _VXLAN_IN)),
    "vxlan_port_without_i_is_gtpu": (1, bytes(_ether() / IP() / UDP(sport=2152, dport=4789)
                                            / Raw(bytes.fromhex("30ff002800000001")) / IP() / UDP())),
    "geneve_not_ip": (1, bytes(_ether() / IP() / UDP(dport=6081) / GENEVE(proto=0x0806) / Raw(b"x" * 28))),
    "fifth_gre_bad_protocol": (1, _deep(GRE(proto=0x1234) / Raw(b"x" * 20))),
    "fifth_gre_cut_short": (1, _deep(GRE())[:-2]),
    "fifth_geneve_not_ip": (1, _deep(UDP(dport=6081) / GENEVE(proto=0x0806) / Raw(b"x" * 28))),
    "fifth_gtpu_bad_ext": (1, _deep(UDP(sport=2152, dport=2152) / Raw(bytes.fromhex("34ff00280000000100000085")))),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_frames_agree(name: str) -> None:
    linktype, frame = HOSTILE[name]
    _assert_agree([PacketBatch.from_packets([(T0, frame)], linktype=linktype)])


def test_fragments_whose_keys_share_a_slot_both_find_their_flow() -> None:
    # identifications 1 and 6337 hash to the same slot of the fast engine's fragment table
    frames = []
    for k, (ident, sport) in enumerate([(1, 1111), (6337, 2222)]):
        first = IP(src="192.0.2.1", dst="192.0.2.2", id=ident, flags="MF") / UDP(sport=sport, dport=53) / Raw(b"q" * 16)
        frames.append((T0 + k, bytes(_ether() / first)))
    for k, ident in enumerate([1, 6337]):
        later = IP(src="192.0.2.1", dst="192.0.2.2", id=ident, frag=3, proto=17) / Raw(b"r" * 16)
        frames.append((T0 + 2 + k, bytes(_ether() / later)))
    flows = _assert_agree([PacketBatch.from_packets(frames)])
    assert sorted(flows["orig_pkts"].to_pylist()) == [2, 2]
