"""The reference flow table against docs/collectors.md ("Flows"), one rule per test."""

from __future__ import annotations

from typing import Any

import pytest

from collectors import FLOW_SCHEMA, FlowConfig, community_id, icmp_ports
from collectors._pyflows import FlowTable, Observation, rows_to_table

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
F, S, R, P, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SEC = 1_000_000


def tcp(ts: float, flags: int, *, back: bool = False, data: int = 0, sport: int = 40000) -> Observation:
    """A TCP packet between A:sport and B:80; ``back`` means from B to A."""
    src, dst, sp, dp = (B, A, 80, sport) if back else (A, B, sport, 80)
    return Observation(int(ts * SEC), 4, 6, src, dst, sp, dp, ip_bytes=40 + data, tcp_flags=flags, payload_len=data)


def udp(ts: float, *, back: bool = False, data: int = 10, dport: int = 53) -> Observation:
    src, dst, sp, dp = (B, A, dport, 5000) if back else (A, B, 5000, dport)
    return Observation(int(ts * SEC), 4, 17, src, dst, sp, dp, ip_bytes=28 + data, payload_len=data)


def run(observations: list[Observation], config: FlowConfig | None = None) -> list[dict[str, Any]]:
    table = FlowTable(config or FlowConfig())
    rows = []
    for obs in observations:
        rows.extend(table.add(obs))
    rows.extend(table.finish(max(obs.ts_us for obs in observations)))
    return sorted(rows, key=lambda row: (row["start"], row["orig_port"]))


def one(observations: list[Observation], config: FlowConfig | None = None) -> dict[str, Any]:
    rows = run(observations, config)
    assert len(rows) == 1, rows
    return rows[0]


HANDSHAKE = [tcp(0, S), tcp(0.1, S | ACK, back=True), tcp(0.2, ACK)]


def test_full_connection_is_sf_with_letters_once_per_side_in_order() -> None:
    row = one(
        [
            *HANDSHAKE,
            tcp(0.3, ACK | P, data=100),
            tcp(0.4, ACK, back=True),
            tcp(0.5, ACK | P, back=True, data=1000),
            tcp(0.6, ACK | P, data=5),  # D again: not repeated
            tcp(0.7, F | ACK),
            tcp(0.8, F | ACK, back=True),
            tcp(0.9, ACK),
        ]
    )
    assert row["history"] == "ShADadFf"
    assert row["conn_state"] == "SF"
    assert (row["orig_pkts"], row["resp_pkts"]) == (6, 4)
    assert (row["orig_ip_bytes"], row["resp_ip_bytes"]) == (6 * 40 + 105, 4 * 40 + 1000)
    assert (row["orig_tcp_flags"], row["resp_tcp_flags"]) == (S | ACK | P | F, S | ACK | P | F)
    assert (row["orig_addr"], row["orig_port"], row["resp_addr"], row["resp_port"]) == (
        "10.0.0.1",
        40000,
        "10.0.0.2",
        80,
    )
    assert row["end_reason"] == "tcp_end"
    assert row["flow_id"] == community_id(6, A, B, 40000, 80)
    assert (row["start"], row["end"]) == (0, int(0.9 * SEC))


@pytest.mark.parametrize(
    ("packets", "state", "history"),
    [
        ([tcp(0, S)], "S0", "S"),
        ([tcp(0, S), tcp(0.1, R | ACK, back=True)], "REJ", "Sr"),
        ([*HANDSHAKE, tcp(1, R)], "RSTO", "ShAR"),
        ([tcp(0, S), tcp(1, R)], "RSTOS0", "SR"),
        ([*HANDSHAKE, tcp(1, R | ACK, back=True)], "RSTR", "ShAr"),
        ([tcp(0, S), tcp(0.5, F)], "SH", "SF"),
        ([tcp(0, S), tcp(0.5, ACK, back=True)], "OTH", "Sa"),
        (HANDSHAKE, "S1", "ShA"),
        ([*HANDSHAKE, tcp(1, F | ACK)], "S2", "ShAF"),
        ([*HANDSHAKE, tcp(1, F | ACK, back=True)], "S3", "ShAf"),
        ([tcp(0, ACK | P, data=10), tcp(0.1, ACK, back=True)], "OTH", "Da"),
    ],
)
def test_conn_state(packets: list[Observation], state: str, history: str) -> None:
    row = one(packets)
    assert (row["conn_state"], row["history"]) == (state, history)


def test_syn_ack_first_turns_the_flow_round() -> None:
    row = one([tcp(0, S | ACK, back=True), tcp(0.1, ACK), tcp(0.2, F | ACK, back=True)])
    assert (row["orig_addr"], row["orig_port"]) == ("10.0.0.1", 40000)
    assert row["history"] == "^hAf"
    assert row["conn_state"] == "SHR"
    assert (row["orig_pkts"], row["resp_pkts"]) == (1, 2)


def test_synack_then_rst_from_its_sender_is_rstrh() -> None:
    row = one([tcp(0, S | ACK, back=True), tcp(0.1, R, back=True)])
    assert row["conn_state"] == "RSTRH"


def test_udp_states_and_payload_letters() -> None:
    assert one([udp(0)])["conn_state"] == "S0"
    row = one([udp(0), udp(0.1, back=True), udp(0.2, back=True, data=0)])
    assert (row["conn_state"], row["history"]) == ("SF", "Dd")
    assert (row["orig_tcp_flags"], row["resp_tcp_flags"]) == (0, 0)


def test_icmp_echo_and_reply_are_one_flow() -> None:
    req, rep = icmp_ports(1, 8, 0), icmp_ports(1, 0, 0)
    row = one(
        [
            Observation(0, 4, 1, A, B, req[0], req[1], ip_bytes=84),
            Observation(1000, 4, 1, B, A, rep[0], rep[1], ip_bytes=84),
        ]
    )
    assert (row["orig_port"], row["resp_port"], row["resp_pkts"]) == (8, 0, 1)
    assert (row["conn_state"], row["history"]) == ("SF", "")
    assert row["flow_id"] == community_id(1, A, B, 8, 0)


def test_idle_timeout_is_inclusive_then_splits() -> None:
    rows = run([udp(0), udp(60), udp(120.000001)])
    assert [(r["orig_pkts"], r["end_reason"]) for r in rows] == [(2, "idle"), (1, "eof")]


def test_idle_timeouts_are_per_protocol_class() -> None:
    config = FlowConfig(idle_timeouts={"tcp": 300.0, "udp": 5.0, "icmp": 60.0, "other": 60.0})
    assert len(run([udp(0), udp(6)], config)) == 2
    assert len(run([tcp(0, ACK), tcp(100, ACK)], config)) == 1


def test_active_timeout_keeps_originator_and_resets_the_rest() -> None:
    config = FlowConfig(active_timeout=10)
    rows = run([tcp(0, S), tcp(1, S | ACK, back=True), tcp(10, ACK | P, back=True, data=7), tcp(11, ACK)], config)
    first, second = rows
    assert first["end_reason"] == "active"
    assert (first["orig_pkts"], first["resp_pkts"], first["history"]) == (1, 1, "Sh")
    assert (second["orig_addr"], second["orig_port"]) == ("10.0.0.1", 40000)
    assert (second["orig_pkts"], second["resp_pkts"], second["history"]) == (1, 1, "dA")
    assert second["start"] == 10 * SEC
    assert second["resp_tcp_flags"] == ACK | P


def test_closed_flow_lingers_five_seconds() -> None:
    packets = [*HANDSHAKE, tcp(1, F | ACK), tcp(2, F | ACK, back=True), tcp(7, ACK), tcp(7.000001, ACK)]
    rows = run(packets)
    assert [(r["orig_pkts"], r["end_reason"]) for r in rows] == [(4, "tcp_end"), (1, "eof")]
    assert rows[1]["conn_state"] == "OTH"


def test_syn_after_rst_reuses_the_ports_as_a_new_flow() -> None:
    rows = run([*HANDSHAKE, tcp(1, R), tcp(2, S)])
    assert [(r["conn_state"], r["end_reason"]) for r in rows] == [("RSTO", "tcp_end"), ("S0", "eof")]


def test_sweep_ends_idle_and_closed_flows() -> None:
    table = FlowTable(FlowConfig())
    for obs in [udp(0), tcp(0, R)]:
        table.add(obs)
    assert table.sweep(5 * SEC) == []
    assert [r["end_reason"] for r in table.sweep(5 * SEC + 1)] == ["tcp_end"]
    assert [r["end_reason"] for r in table.sweep(61 * SEC)] == ["idle"]
    assert len(table) == 0


def test_eviction_ends_the_oldest_eighth_with_ties() -> None:
    config = FlowConfig(max_flows=8)
    table = FlowTable(config)
    for i in range(8):
        assert table.add(udp(i // 2, dport=i)) == []  # last packet times 0,0,1,1,2,2,3,3
    rows = table.add(udp(4, dport=100))
    assert sorted(r["resp_port"] for r in rows) == [0, 1]
    assert {r["end_reason"] for r in rows} == {"evicted"}
    assert len(table) == 7


def test_eviction_sweeps_expired_flows_first() -> None:
    table = FlowTable(FlowConfig(max_flows=8))
    for i in range(8):
        table.add(udp(i, dport=i))
    rows = table.add(udp(60.5, dport=100))
    assert [(r["resp_port"], r["end_reason"]) for r in rows] == [(0, "idle")]


def test_fragments_count_packets_and_bytes_only() -> None:
    frag = Observation(SEC, 4, 6, A, B, 40000, 80, ip_bytes=1500, tcp_flags=0, is_fragment=True)
    row = one([tcp(0, S), frag])
    assert (row["orig_pkts"], row["orig_ip_bytes"], row["history"], row["end"]) == (2, 1540, "S", SEC)


def test_tunnel_key_and_parents() -> None:
    table = FlowTable(FlowConfig())
    inner = udp(0)
    vx = Observation(0, 4, 17, A, B, 5000, 53, ip_bytes=38, payload_len=10, tunnel=("vxlan:7",), vlan=3, mpls=(16,))
    table.add(inner)
    for parent in ["p3", "p1", "p3", "p2"]:
        table.add(vx, parent)
    rows = sorted(table.finish(0), key=lambda r: r["tunnel"] or "")
    assert [r["tunnel"] for r in rows] == [None, "vxlan:7"]
    assert rows[1]["tunnel_parents"] == ["p1", "p3"]
    assert (rows[1]["vlan"], rows[1]["inner_vlan"], rows[1]["mpls"]) == (3, None, [16])
    assert (rows[0]["tunnel_parents"], rows[0]["mpls"], rows[0]["vlan"]) == ([], [], None)


def test_rows_make_a_flow_schema_table() -> None:
    v6a, v6b = bytes(15) + b"\x01", b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02"
    rows = run([udp(0), Observation(5, 6, 58, v6a, v6b, 128, 129, ip_bytes=104)])
    table = rows_to_table(rows)
    assert table.schema == FLOW_SCHEMA
    assert table.column("resp_addr").to_pylist() == ["10.0.0.2", "2001:db8::2"]
    assert set(table.column("tap_id").to_pylist()) == {"tap0"}
    assert table.column("dns_qname").null_count == 2
