"""The scapy engine on hand-built frames: link types, tags, tunnels, fragments, problems."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import ARP, GRE, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet

from collectors import FLOW_SCHEMA, FlowConfig, PacketBatch, community_id
from collectors._scapy_engine import ScapyEngine

MAC_A, MAC_B = "02:5a:5a:00:00:01", "02:5a:5a:00:00:02"
C, S = "192.0.2.10", "198.51.100.20"  # client and server inside tunnels
T1, T2 = "203.0.113.1", "203.0.113.2"  # tunnel endpoints
TEID = 0x5EC12E7


def eth(payload: Packet, *, back: bool = False) -> bytes:
    src, dst = (MAC_B, MAC_A) if back else (MAC_A, MAC_B)
    return bytes(Ether(src=src, dst=dst) / payload)


def run(frames: list[bytes], linktype: int = 1, config: FlowConfig | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Feed frames 1 ms apart; returns every flow row (sorted) and the engine."""
    engine = ScapyEngine(config or FlowConfig())
    batch = PacketBatch.from_packets([(1_000_000 + i * 1000, f) for i, f in enumerate(frames)], linktype=linktype)
    table = pa.concat_tables([engine.feed(batch), engine.finish()])
    assert table.schema == FLOW_SCHEMA
    rows = sorted(table.to_pylist(), key=lambda r: (r["tunnel"] or "", r["proto"], r["orig_port"]))
    return rows, engine


def by_tunnel(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {row["tunnel"]: row for row in rows}


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


# --- plain flows ----------------------------------------------------------------------


def test_tcp_connection_through_ethernet() -> None:
    ip, back = IP(src="10.0.0.1", dst="10.0.0.2"), IP(src="10.0.0.2", dst="10.0.0.1")
    frames = [
        eth(ip / TCP(sport=40000, dport=443, flags="S")),
        eth(back / TCP(sport=443, dport=40000, flags="SA"), back=True),
        eth(ip / TCP(sport=40000, dport=443, flags="A")),
        eth(ip / TCP(sport=40000, dport=443, flags="PA") / (b"x" * 100)),
        eth(back / TCP(sport=443, dport=40000, flags="PA") / (b"y" * 300), back=True),
        eth(ip / TCP(sport=40000, dport=443, flags="FA")),
        eth(back / TCP(sport=443, dport=40000, flags="FA"), back=True),
    ]
    (row,), engine = run(frames)
    assert (row["history"], row["conn_state"], row["end_reason"]) == ("ShADdFf", "SF", "tcp_end")
    assert (row["orig_pkts"], row["resp_pkts"]) == (4, 3)
    assert (row["orig_ip_bytes"], row["resp_ip_bytes"]) == (4 * 40 + 100, 3 * 40 + 300)
    assert row["flow_id"] == community_id(6, _ip("10.0.0.1"), _ip("10.0.0.2"), 40000, 443)
    assert engine.packets == 7 and not engine.problems


def test_ip_bytes_come_from_the_header_not_the_capture() -> None:
    frame = eth(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / (b"z" * 500))
    (row,), _ = run([frame[:60]])
    assert row["orig_ip_bytes"] == 528 and row["history"] == "D"


def test_icmp_echo_is_one_flow_with_type_ports() -> None:
    frames = [
        eth(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=7)),
        eth(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=0, id=7), back=True),
    ]
    (row,), _ = run(frames)
    assert (row["orig_port"], row["resp_port"], row["orig_pkts"], row["resp_pkts"]) == (8, 0, 1, 1)
    assert row["flow_id"] == community_id(1, _ip("10.0.0.1"), _ip("10.0.0.2"), 8, 0)


def test_idle_timeout_by_packet_time_through_feed() -> None:
    engine = ScapyEngine(FlowConfig())
    frame = eth(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))
    ended = engine.feed(PacketBatch.from_packets([(0, frame), (61_000_000, frame), (62_500_000, frame)]))
    assert ended.column("end_reason").to_pylist() == ["idle"]
    assert engine.finish().column("orig_pkts").to_pylist() == [2]


def test_snapshot_and_restore_continue_the_same_flows() -> None:
    frame = eth(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))
    first = ScapyEngine(FlowConfig())
    first.feed(PacketBatch.from_packets([(0, frame), (1000, b"\x00")]))
    second = ScapyEngine(FlowConfig())
    second.restore(first.snapshot())
    second.feed(PacketBatch.from_packets([(2000, frame)]))
    assert second.finish().column("orig_pkts").to_pylist() == [2]
    assert (second.packets, second.problems["truncated"]) == (3, 1)


# --- link types -----------------------------------------------------------------------

INNER = IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=1000, dport=2000) / b"data"
INNER6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1000, dport=2000) / b"data"


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (1, bytes(Ether() / INNER)),
        (113, bytes(CookedLinux(proto=0x0800) / INNER)),
        (276, bytes(CookedLinuxV2(proto=0x86DD) / INNER6)),
        (101, bytes(INNER)),
        (12, bytes(INNER6)),
        (14, bytes(INNER)),
        (228, bytes(INNER)),
        (229, bytes(INNER6)),
        (0, struct.pack("<I", 2) + bytes(INNER)),
        (0, struct.pack(">I", 30) + bytes(INNER6)),
        (108, struct.pack(">I", 2) + bytes(INNER)),
    ],
)
def test_link_types(linktype: int, frame: bytes) -> None:
    (row,), engine = run([frame], linktype=linktype)
    assert (row["orig_port"], row["resp_port"], row["history"]) == (1000, 2000, "D")
    assert not engine.problems


def test_unsupported_linktype_is_counted() -> None:
    rows, engine = run([bytes(INNER)], linktype=147)
    assert rows == [] and engine.problems == {"unsupported_linktype": 1}


# --- tags -----------------------------------------------------------------------------


def test_vlan_and_qinq_tags() -> None:
    rows, _ = run(
        [
            bytes(Ether() / Dot1Q(vlan=10) / INNER),
            bytes(Ether() / Dot1AD(vlan=20) / Dot1Q(vlan=30) / Dot1Q(vlan=40) / INNER6),
        ]
    )
    assert [(r["vlan"], r["inner_vlan"]) for r in rows] == [(10, None), (20, 30)]


def test_mpls_keeps_four_labels_outermost_first() -> None:
    stack = MPLS(label=1, s=0) / MPLS(label=2, s=0) / MPLS(label=3, s=0) / MPLS(label=4, s=0) / MPLS(label=5, s=1)
    (row,), _ = run([bytes(Ether(type=0x8847) / stack / INNER)])
    assert row["mpls"] == [1, 2, 3, 4]


def test_pppoe_session() -> None:
    rows, engine = run(
        [
            bytes(Ether(type=0x8864) / PPPoE(sessionid=5) / PPP(proto=0x0021) / INNER),
            bytes(Ether(type=0x8864) / PPPoE(sessionid=5) / PPP(proto=0x0057) / INNER6),
            bytes(Ether(type=0x8864) / PPPoE(sessionid=5) / PPP(proto=0xC021) / b"\x01\x01\x00\x04"),
        ]
    )
    assert [r["ip_version"] for r in rows] == [4, 6]
    assert engine.problems == {"non_ip": 1}


# --- tunnels --------------------------------------------------------------------------


def carrier(payload: Packet) -> Packet:
    return IP(src=T1, dst=T2) / payload


def assert_parent(rows: list[dict[str, Any]], tunnel: str, outer_tunnel: str | None = None) -> dict[str, Any]:
    flows = by_tunnel(rows)
    assert set(flows) == {outer_tunnel, tunnel}, flows.keys()
    inner, outer = flows[tunnel], flows[outer_tunnel]
    assert inner["tunnel_parents"] == [outer["flow_id"]]
    assert (inner["orig_addr"], inner["resp_port"]) == ("10.1.1.1", 2000) or inner["orig_addr"] == "2001:db8::1"
    return inner


def test_gre_with_key_and_sequence() -> None:
    rows, _ = run([eth(carrier(GRE(key_present=1, key=9, seqnum_present=1, proto=0x0800) / INNER))])
    assert_parent(rows, "gre")
    outer = by_tunnel(rows)[None]
    assert (outer["proto"], outer["orig_port"], outer["resp_port"]) == (47, 0, 0)
    assert outer["flow_id"] == community_id(47, _ip(T1), _ip(T2), 0, 0)


@pytest.mark.parametrize(
    "gre",
    [
        GRE(proto=0x88BE) / Ether(src=MAC_A) / Dot1Q(vlan=77) / INNER,
        GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(vlan=5) / Ether(src=MAC_A) / Dot1Q(vlan=77) / INNER,
        GRE(proto=0x22EB) / ERSPAN_III(o=1) / ERSPAN_PlatformSpecific() / Ether(src=MAC_A) / Dot1Q(vlan=77) / INNER,
    ],
    ids=["I", "II", "III"],
)
def test_erspan(gre: Packet) -> None:
    rows, engine = run([bytes(Ether() / Dot1Q(vlan=3) / carrier(gre))])
    inner = assert_parent(rows, "gre,erspan")
    assert inner["vlan"] == 77 and by_tunnel(rows)[None]["vlan"] == 3
    assert not engine.problems


def test_vxlan_inner_flow_has_both_vteps_as_parents() -> None:
    inner_eth = Ether(src=MAC_A, dst=MAC_B) / INNER
    frames = [
        eth(IP(src=T1, dst=T2) / UDP(sport=50001, dport=4789) / VXLAN(vni=100, flags=0x08) / inner_eth),
        eth(IP(src=T2, dst=T1) / UDP(sport=50002, dport=4789) / VXLAN(vni=100, flags=0x08) / inner_eth),
    ]
    rows, _ = run(frames)
    flows = by_tunnel(rows)
    outer_ids = sorted(r["flow_id"] for r in rows if r["tunnel"] is None)
    assert len(outer_ids) == 2
    assert flows["vxlan:100"]["tunnel_parents"] == outer_ids
    assert flows["vxlan:100"]["orig_pkts"] == 2


def test_same_tuple_in_two_vxlan_segments_is_two_flows() -> None:
    frames = [eth(carrier(UDP(sport=5, dport=4789) / VXLAN(vni=vni, flags=0x08) / Ether() / INNER)) for vni in (1, 2)]
    rows, _ = run(frames)
    assert sorted(r["tunnel"] or "" for r in rows) == ["", "vxlan:1", "vxlan:2"]


def test_geneve() -> None:
    frame = eth(carrier(UDP(sport=7, dport=6081) / GENEVE(vni=42, proto=0x6558) / Ether() / INNER))
    rows, _ = run([frame])
    assert_parent(rows, "geneve:42")


def test_geneve_with_options_and_ip_payload() -> None:
    geneve = GENEVE(vni=43, proto=0x0800, optionlen=2) / (b"\x01\x02\x03\x04" * 2)
    raw = bytes(carrier(UDP(sport=7, dport=6081) / geneve / INNER))
    rows, engine = run([eth(IP(raw))])
    assert_parent(rows, "geneve:43")
    assert not engine.problems


def test_cooked_capture_with_a_vlan_tag() -> None:
    (row,), _ = run([bytes(CookedLinux(proto=0x8100) / Dot1Q(vlan=12) / INNER)], linktype=113)
    assert row["vlan"] == 12


def test_gtpu_with_sequence_number_only() -> None:
    rows, _ = run([eth(carrier(UDP(sport=40000, dport=2152) / GTP_U_Header(teid=TEID, S=1, seq=9) / INNER6))])
    assert_parent(rows, "gtpu")


def test_gtpu_with_extension_header_keeps_no_teid_and_no_macs() -> None:
    gtp = GTP_U_Header(teid=TEID, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9, NextExtHdr=0)
    frame = eth(carrier(UDP(sport=2152, dport=2152) / gtp / INNER))
    echo = eth(carrier(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=TEID, gtp_type=1)))
    rows, engine = run([frame, echo])
    assert_parent(rows, "gtpu")
    assert by_tunnel(rows)[None]["orig_pkts"] == 2 and not engine.problems
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, FLOW_SCHEMA) as writer:
        writer.write_table(pa.Table.from_pylist(rows, schema=FLOW_SCHEMA))
    blob = sink.getvalue().to_pybytes()
    for needle in (struct.pack("!I", TEID), str(TEID).encode(), bytes.fromhex("025a5a000001"), b"5a:5a"):
        assert needle not in blob


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        (IP(src=T1, dst=T2, proto=4), INNER),
        (IP(src=T1, dst=T2, proto=41), INNER6),
        (IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2", nh=4), INNER),
    ],
    ids=["ipip", "6in4", "4in6"],
)
def test_ip_in_ip(outer: Packet, inner: Packet) -> None:
    rows, _ = run([eth(outer / inner)])
    assert_parent(rows, "ipip")
    assert by_tunnel(rows)[None]["proto"] == outer.getfieldval("proto" if outer.version == 4 else "nh")


@pytest.mark.parametrize("origin", [b"", b"\x00\x00\x12\x34\xc0\x00\x02\x01"], ids=["plain", "origin"])
def test_teredo(origin: bytes) -> None:
    rows, _ = run([eth(carrier(UDP(sport=3544, dport=40000) / origin / INNER6))])
    assert_parent(rows, "teredo")


def test_too_deep_keeps_four_levels() -> None:
    packet: Packet = INNER
    for _ in range(5):
        packet = IP(src=T1, dst=T2, proto=4) / packet
    rows, engine = run([eth(packet)])
    assert sorted(r["tunnel"] or "" for r in rows)[-1] == "ipip,ipip,ipip,ipip"
    assert len(rows) == 5 and engine.problems == {"too_deep": 1}


def test_bad_tunnel_keeps_the_outer_flow() -> None:
    truncated_inner = bytes(carrier(UDP(sport=5, dport=4789) / VXLAN(vni=1, flags=0x08) / Ether() / INNER))[:60]
    rows, engine = run([eth(IP(truncated_inner)), eth(carrier(GRE(proto=0x1234) / b"xx"))])
    assert [r["tunnel"] for r in rows] == [None, None]
    assert engine.problems == {"bad_tunnel": 2}


# --- fragments ------------------------------------------------------------------------


def test_ipv4_fragments_count_toward_their_flow() -> None:
    whole = IP(src="10.0.0.1", dst="10.0.0.2", id=99) / UDP(sport=1, dport=2) / (b"q" * 40)
    first, rest = IP(bytes(whole)[:20] + bytes(whole)[20:44]), bytes(whole)[44:]
    first.flags, first.len = "MF", None
    second = IP(src="10.0.0.1", dst="10.0.0.2", id=99, frag=3, proto=17) / rest
    orphan = IP(src="10.0.0.1", dst="10.0.0.2", id=100, frag=3, proto=17) / rest
    (row,), engine = run([eth(first), eth(second), eth(orphan)])
    assert (row["orig_pkts"], row["orig_ip_bytes"], row["orig_port"]) == (2, 44 + 20 + 24, 1)
    assert engine.problems == {"orphan_fragment": 1}


def test_ipv6_fragments_count_toward_their_flow() -> None:
    base = IPv6(src="2001:db8::1", dst="2001:db8::2")
    first = base / IPv6ExtHdrFragment(id=7, m=1, offset=0) / UDP(sport=1, dport=2) / (b"a" * 16)
    second = base / IPv6ExtHdrFragment(id=7, nh=17, offset=3) / (b"b" * 16)
    orphan = base / IPv6ExtHdrFragment(id=8, nh=17, offset=3) / (b"b" * 16)
    (row,), engine = run([eth(first), eth(second), eth(orphan)])
    assert (row["orig_pkts"], row["orig_ip_bytes"], row["resp_port"]) == (2, 40 + 32 + 40 + 24, 2)
    assert engine.problems == {"orphan_fragment": 1}


# --- problems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (bytes(Ether() / INNER)[:20], "truncated"),
        (bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / TCP())[:40], "truncated"),
        (b"\x00" * 10, "truncated"),
        (bytes(Ether() / IP(ihl=3) / UDP()), "bad_ip"),
        (bytes(Ether(type=0x0800) / INNER6), "bad_ip"),
        (bytes(Ether() / ARP()), "non_ip"),
        (bytes(Ether(type=0x8847) / MPLS(s=1) / b"\x00\x01\x02\x03"), "mpls_payload"),
    ],
)
def test_problems_are_counted(frame: bytes, kind: str) -> None:
    rows, engine = run([frame])
    assert rows == [] and engine.problems == {kind: 1}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 113, 276, 101, 228, 229, 0, 108]), st.binary(max_size=120))
def test_garbage_never_raises(linktype: int, frame: bytes) -> None:
    engine = ScapyEngine(FlowConfig())
    table = engine.feed(PacketBatch.from_packets([(0, frame)], linktype=linktype))
    table = pa.concat_tables([table, engine.finish()])
    assert engine.packets == 1 and table.schema == FLOW_SCHEMA


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=14, max_value=200), st.sampled_from([0, 1, 2]))
def test_truncated_tunnels_never_raise(cut: int, which: int) -> None:
    gtp = GTP_U_Header(teid=TEID, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9)
    payloads = [
        UDP(sport=2152, dport=2152) / gtp / INNER,
        GRE(proto=0x22EB) / ERSPAN_III(o=1) / ERSPAN_PlatformSpecific() / Ether() / INNER,
        UDP(sport=3544, dport=9) / INNER6,
    ]
    frame = eth(carrier(payloads[which]))[:cut]
    engine = ScapyEngine(FlowConfig())
    engine.feed(PacketBatch.from_packets([(0, frame)]))
    assert engine.packets == 1
