"""NetFlow v5 / v9 and IPFIX decoding, from hand-built messages: values, templates, losses, bad input."""

from __future__ import annotations

import ipaddress
import logging
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors import FlowDecoder, community_id, flow_table
from tests.collectors.ipfix_messages import (
    BIFLOW4,
    REVERSE,
    a_set,
    biflow4,
    ip4,
    ip6,
    ipfix,
    options_template,
    template,
    v5,
    v9,
)

EXPORTER = "192.0.2.99:4739"
T0_MS = 1_714_564_800_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rows(decoder: FlowDecoder) -> list[dict[str, Any]]:
    table = flow_table(decoder.drain(), "tap0", decoder.stats)
    out = table.to_pylist()
    for row in out:
        row["start_us"] = int(row["start"].timestamp() * 1_000_000)
    return out


def cid(proto: int, a: str, b: str, sport: int, dport: int) -> str:
    return community_id(proto, ipaddress.ip_address(a).packed, ipaddress.ip_address(b).packed, sport, dport)


def test_ipfix_biflow_record_becomes_a_flow_record() -> None:
    decoder = FlowDecoder()
    record = biflow4("192.0.2.1", "198.51.100.2", 40000, 443, 6)
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, record)]), EXPORTER)
    [row] = rows(decoder)
    assert (row["orig_addr"], row["orig_port"], row["resp_addr"], row["resp_port"], row["proto"]) == (
        "192.0.2.1", 40000, "198.51.100.2", 443, 6
    )  # fmt: skip
    assert (row["orig_pkts"], row["orig_ip_bytes"], row["resp_pkts"], row["resp_ip_bytes"]) == (3, 180, 2, 120)
    assert row["flow_id"] == cid(6, "192.0.2.1", "198.51.100.2", 40000, 443)
    assert row["conn_state"] == "SF" and row["history"] == "" and row["end_reason"] == "tcp_end"
    assert row["start_us"] == T0_MS * 1000
    assert row["tunnel"] is None and row["tunnel_parents"] == [] and row["mpls"] == []
    assert decoder.stats.records == 1 and decoder.stats.messages["ipfix"] == 1


def test_whole_set_is_decoded_at_once_and_padding_ignored() -> None:
    decoder = FlowDecoder()
    records = b"".join(biflow4("192.0.2.1", "198.51.100.2", 40000 + i, 53, 17, pkts=i + 1) for i in range(50))
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, records + b"\0\0\0")]), EXPORTER)
    out = rows(decoder)
    assert sorted(r["orig_port"] for r in out) == list(range(40000, 40050))
    assert sorted(r["orig_pkts"] for r in out) == list(range(1, 51))
    assert all(r["conn_state"] == "SF" for r in out)  # UDP answered


def test_enterprise_elements_are_skipped_and_odd_widths_read() -> None:
    fields = [(8, 4), (100, 6, 9), (12, 4), (7, 2), (11, 2), (4, 1), (2, 3), (1, 5), (999, 2, 12345), (152, 8)]
    record = ip4("10.0.0.1") + b"ABCDEF" + ip4("10.0.0.2") + struct.pack("!HHB", 1, 2, 17)
    record += (70000).to_bytes(3, "big") + (2**33).to_bytes(5, "big") + b"zz" + struct.pack("!Q", T0_MS)
    decoder = FlowDecoder()
    decoder.feed(ipfix([a_set(2, template(300, fields)), a_set(300, record)]), EXPORTER)
    [row] = rows(decoder)
    assert (row["orig_addr"], row["resp_addr"], row["orig_pkts"], row["orig_ip_bytes"]) == (
        "10.0.0.1", "10.0.0.2", 70000, 2**33
    )  # fmt: skip
    assert row["resp_pkts"] == 0 and row["conn_state"] == "S0"


def test_variable_length_fields_take_the_per_record_path() -> None:
    fields = [(8, 4), (82, 0xFFFF), (12, 4), (4, 1), (2, 4), (1, 4)]
    one = ip4("10.0.0.1") + b"\x03eth" + ip4("10.0.0.2") + struct.pack("!BII", 6, 5, 500)
    two = ip4("10.0.0.3") + b"\xff\x00\x04wlan" + ip4("10.0.0.4") + struct.pack("!BII", 17, 1, 90)
    decoder = FlowDecoder()
    decoder.feed(ipfix([a_set(2, template(301, fields)), a_set(301, one + two)]), EXPORTER)
    out = sorted(rows(decoder), key=lambda r: r["orig_addr"])
    assert [(r["orig_addr"], r["resp_addr"], r["proto"], r["orig_pkts"], r["orig_ip_bytes"]) for r in out] == [
        ("10.0.0.1", "10.0.0.2", 6, 5, 500),
        ("10.0.0.3", "10.0.0.4", 17, 1, 90),
    ]


def test_ipv6_icmp_and_vlan_mpls() -> None:
    fields = [(27, 16), (28, 16), (4, 1), (139, 2), (2, 4), (1, 4), (58, 2), (70, 3), (71, 3), (150, 4)]
    record = ip6("2001:db8::1") + ip6("2001:db8::2") + struct.pack("!BHIIH", 58, 128 << 8, 2, 208, 42)
    record += (100 << 4).to_bytes(3, "big") + ((200 << 4) | 1).to_bytes(3, "big") + struct.pack("!I", T0_MS // 1000)
    decoder = FlowDecoder()
    decoder.feed(ipfix([a_set(2, template(302, fields)), a_set(302, record)]), EXPORTER)
    [row] = rows(decoder)
    assert (row["ip_version"], row["orig_addr"], row["resp_addr"]) == (6, "2001:db8::1", "2001:db8::2")
    assert (row["orig_port"], row["resp_port"]) == (128, 129)  # echo request paired with its reply type
    assert row["flow_id"] == cid(58, "2001:db8::1", "2001:db8::2", 128, 129)
    assert row["vlan"] == 42 and row["mpls"] == [100, 200]
    assert row["start_us"] == T0_MS * 1000


def test_options_record_gives_the_sysuptime_reference() -> None:
    fields = [(8, 4), (12, 4), (22, 4), (21, 4), (2, 4), (1, 4), (4, 1)]
    opts = options_template(257, [(149, 4)], [(160, 8)])
    init = T0_MS - 60_000
    decoder = FlowDecoder()
    message = ipfix([
        a_set(3, opts), a_set(257, struct.pack("!IQ", 1, init)),
        a_set(2, template(256, fields)),
        a_set(256, ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack("!IIIIB", 60_000, 60_500, 1, 40, 6)),
    ])  # fmt: skip
    decoder.feed(message, EXPORTER)
    [row] = rows(decoder)
    assert row["start_us"] == T0_MS * 1000
    assert int(row["end"].timestamp() * 1000) == T0_MS + 500
    assert decoder.stats.option_records == 1


def test_netflow_v5() -> None:
    record = {"src": ip4("10.1.1.1"), "dst": ip4("10.2.2.2"), "pkts": 7, "bytes": 700, "first": 90_000,
              "last": 95_000, "sport": 1234, "dport": 80, "proto": 6, "flags": 0x12}  # fmt: skip
    icmp = dict(record, sport=0, dport=(8 << 8), proto=1, flags=0)
    decoder = FlowDecoder()
    decoder.feed(v5([record, icmp], uptime=100_000, secs=T0_MS // 1000), "10.0.0.9:2055")
    out = sorted(rows(decoder), key=lambda r: r["proto"])
    assert [(r["proto"], r["orig_port"], r["resp_port"], r["orig_pkts"], r["orig_ip_bytes"]) for r in out] == [
        (1, 8, 0, 7, 700),
        (6, 1234, 80, 7, 700),
    ]
    assert out[1]["start_us"] == (T0_MS - 10_000) * 1000  # 10 s before the header's sysUpTime
    assert decoder.stats.messages["v5"] == 1


def test_netflow_v9_templates_per_source_id() -> None:
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)]
    rec = ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack("!HHBII", 5, 6, 17, 1, 60)
    decoder = FlowDecoder()
    decoder.feed(v9([a_set(0, template(256, fields, v9=True))], source=1), EXPORTER)
    decoder.feed(v9([a_set(256, rec)], seq=1, source=1), EXPORTER)
    decoder.feed(v9([a_set(256, rec)], seq=0, source=2), EXPORTER)  # no template in domain 2: waits
    assert len(rows(decoder)) == 1
    decoder.finish()
    assert decoder.stats.expired_sets == 1
    assert decoder.stats.problems["no_template"] == 1


def test_data_before_template_waits_then_decodes() -> None:
    clock = Clock()
    decoder = FlowDecoder(clock=clock)
    data = a_set(256, biflow4("192.0.2.1", "198.51.100.2", 1, 2, 17))
    decoder.feed(ipfix([data], seq=0), EXPORTER)
    assert decoder.ready == 0
    clock.now += 5
    decoder.tick()
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4))], seq=1), EXPORTER)
    assert len(rows(decoder)) == 1
    assert decoder.stats.waited_sets == 1 and decoder.stats.expired_sets == 0


def test_waiting_data_expires_and_counts_as_lost() -> None:
    clock = Clock()
    decoder = FlowDecoder(clock=clock, pending_timeout=10.0)
    decoder.feed(ipfix([a_set(256, biflow4("192.0.2.1", "198.51.100.2", 1, 2, 17))]), EXPORTER)
    clock.now += 11
    decoder.tick()
    assert decoder.stats.expired_sets == 1
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4))], seq=1), EXPORTER)
    assert rows(decoder) == []


def test_waiting_buffer_is_bounded() -> None:
    decoder = FlowDecoder(pending_limit=4)
    for i in range(10):
        decoder.feed(ipfix([a_set(256, biflow4("192.0.2.1", "198.51.100.2", i, 2, 17))], seq=i), EXPORTER)
    assert decoder.stats.expired_sets == 6
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4))], seq=10), EXPORTER)
    assert sorted(r["orig_port"] for r in rows(decoder)) == [6, 7, 8, 9]


def test_template_expires_over_udp_and_withdrawal_removes_it() -> None:
    clock = Clock()
    decoder = FlowDecoder(clock=clock, template_timeout=100.0)
    record = a_set(256, biflow4("192.0.2.1", "198.51.100.2", 1, 2, 17))
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), record]), EXPORTER)
    clock.now += 101
    decoder.feed(ipfix([record], seq=1), EXPORTER)
    assert decoder.stats.expired_templates == 1 and len(rows(decoder)) == 1
    decoder.finish()
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), a_set(2, struct.pack("!HH", 256, 0)), record]), EXPORTER)
    assert decoder.stats.withdrawn == 1 and decoder.ready == 0


def test_sequence_gaps_are_counted_per_domain() -> None:
    decoder = FlowDecoder()
    records = b"".join(biflow4("192.0.2.1", "198.51.100.2", i, 2, 17) for i in range(3))
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, records)], seq=0), EXPORTER)
    decoder.feed(ipfix([a_set(256, records)], seq=3), EXPORTER)
    decoder.feed(ipfix([a_set(256, records)], seq=10), EXPORTER)  # 4 records lost
    decoder.feed(ipfix([a_set(256, records)], seq=4), EXPORTER)  # late: out of order
    decoder.feed(ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, records)], seq=0, domain=2), EXPORTER)
    assert decoder.stats.lost_records == 4 and decoder.stats.out_of_order == 1
    rec = ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack("!HHBII", 5, 6, 17, 1, 60)
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)]
    decoder.feed(v9([a_set(0, template(256, fields, v9=True)), a_set(256, rec)], seq=7), EXPORTER)
    decoder.feed(v9([a_set(256, rec)], seq=10), EXPORTER)  # datagrams 8 and 9 lost
    assert decoder.stats.lost_datagrams == 2
    v5rec = {"src": ip4("10.1.1.1"), "dst": ip4("10.2.2.2"), "pkts": 1, "bytes": 40, "first": 1, "last": 2,
             "sport": 1, "dport": 2, "proto": 17}  # fmt: skip
    decoder.feed(v5([v5rec, v5rec], seq=100), "10.0.0.9:2055")
    decoder.feed(v5([v5rec], seq=105), "10.0.0.9:2055")  # 3 records lost
    assert decoder.stats.lost_records == 7


_valid = ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, biflow4("192.0.2.1", "198.51.100.2", 1, 2, 17))])


BAD = [
    (b"\x00", "short_datagram"),
    (struct.pack("!HH", 10, 100) + bytes(12), "bad_length"),
    (struct.pack("!HH", 7, 100) + bytes(40), "bad_version"),
    (ipfix([struct.pack("!HH", 256, 2)]), "bad_set_length"),
    (ipfix([a_set(2, struct.pack("!HH", 256, 60000))]), "bad_template"),  # more fields than allowed
    (ipfix([a_set(2, struct.pack("!HH", 256, 40) + bytes(8))]), "bad_template"),  # runs past the set
    (ipfix([a_set(2, template(256, [(8, 0), (12, 0)]))]), "bad_template"),  # records of no length
    (ipfix([a_set(2, template(256, [(1, 40000), (2, 40000)]))]), "bad_template"),  # fits in no message
    (ipfix([a_set(2, template(12, [(8, 4)]))]), "bad_template"),  # reserved id
    (v5([]), "bad_length"),
    (v9([struct.pack("!HH", 256, 400)]), "bad_set_length"),
]


@pytest.mark.parametrize(("data", "kind"), BAD)
def test_bad_input_is_one_log_line_naming_the_exporter(
    data: bytes, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    decoder = FlowDecoder()
    with caplog.at_level(logging.WARNING, logger="collectors.flows"):
        decoder.feed(data, EXPORTER)
    assert decoder.stats.problems == {kind: 1}
    [line] = [r.getMessage() for r in caplog.records]
    assert EXPORTER in line and kind in line
    # and the decoder goes on: a good message afterwards is read
    decoder.feed(_valid, EXPORTER)
    assert len(rows(decoder)) == 1


def test_ipfix_listener_refuses_netflow_versions() -> None:
    decoder = FlowDecoder(versions=frozenset({10}))
    decoder.feed(v9([]), EXPORTER)
    assert decoder.stats.problems["bad_version"] == 1


def test_log_lines_per_exporter_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    decoder = FlowDecoder()
    with caplog.at_level(logging.WARNING, logger="collectors.flows"):
        for _ in range(50):
            decoder.feed(b"\x00", EXPORTER)
    assert decoder.stats.problems["short_datagram"] == 50
    assert len(caplog.records) == 10 and "only counted" in caplog.records[-1].getMessage()


@given(st.lists(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda cut, junk: _valid[:cut] + junk, st.integers(0, len(_valid)), st.binary(max_size=20)),
    st.builds(lambda i, b: _valid[:i] + bytes([b]) + _valid[i + 1:], st.integers(0, len(_valid) - 1),
              st.integers(0, 255)),
    st.builds(lambda head, body: struct.pack("!H", head) + body, st.sampled_from([5, 9, 10]), st.binary(max_size=300)),
), max_size=8))  # fmt: skip
def test_garbled_messages_never_raise(messages: list[bytes]) -> None:
    decoder = FlowDecoder()
    for message in messages:
        decoder.feed(message, EXPORTER)
    decoder.finish()
    table = flow_table(decoder.drain(), "tap0", decoder.stats)
    assert table.num_rows >= 0
    assert "undecodable" not in decoder.stats.problems  # every damage is a named problem, no crash caught
    decoder.feed(_valid, "192.0.2.100:1")
    assert len(rows(decoder)) == 1


def test_reverse_elements_need_the_reverse_pen() -> None:
    fields = [(8, 4), (12, 4), (2, 4), (2, 4, REVERSE), (2, 4, 4242)]
    record = ip4("10.0.0.1") + ip4("10.0.0.2") + struct.pack("!III", 5, 6, 999)
    decoder = FlowDecoder()
    decoder.feed(ipfix([a_set(2, template(256, fields)), a_set(256, record)]), EXPORTER)
    [row] = rows(decoder)
    assert (row["orig_pkts"], row["resp_pkts"]) == (5, 6)
