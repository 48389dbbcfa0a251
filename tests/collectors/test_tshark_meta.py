"""Application names from a pyshark pass, attached to the flows they belong to."""

from __future__ import annotations

import ipaddress
import os
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from collectors import FLOW_SCHEMA, community_id
from collectors._tshark_meta import AppMeta, annotate, app_metadata
from policies import CaptureError

pytestmark = pytest.mark.tshark

T0 = 1_714_564_800_000_000
CLIENT, RESOLVER, WEB, WEB6 = "10.0.0.1", "10.0.0.53", "93.184.216.34", "2001:db8::80"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _cid(proto: int, src: str, dst: str, sport: int, dport: int) -> str:
    return community_id(proto, ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed, sport, dport)


DNS_FLOW = _cid(17, CLIENT, RESOLVER, 5353, 53)
TLS_FLOW = _cid(6, CLIENT, WEB, 40000, 443)
HTTP_FLOW = _cid(6, "2001:db8::1", WEB6, 40001, 80)
INNER_FLOW = _cid(6, "172.16.0.1", "172.16.0.2", 40002, 80)


def client_hello(server_name: str) -> bytes:
    """A TLS 1.2 record holding a ClientHello with one server_name extension."""
    name = server_name.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack("!HH", 0, len(sni)) + sni
    body = (
        b"\x03\x03" + bytes(32) + b"\x00"  # version, random, no session id
        + struct.pack("!HH", 2, 0x1301) + b"\x01\x00"  # one cipher suite, null compression
        + struct.pack("!H", len(extensions)) + extensions
    )  # fmt: skip
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def _http_get(host: str) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n\r\n".encode()


def _packets() -> list[Packet]:
    eth = Ether(src=MAC_A, dst=MAC_B)
    query = DNS(id=7, rd=1, qd=DNSQR(qname="dns.example.com"))
    answer = DNS(id=7, qr=1, qd=DNSQR(qname="dns.example.com"), an=DNSRR(rrname="dns.example.com", rdata="192.0.2.7"))
    packets: list[Packet] = [
        eth / IP(src=CLIENT, dst=RESOLVER) / UDP(sport=5353, dport=53) / query,
        eth / IP(src=RESOLVER, dst=CLIENT) / UDP(sport=53, dport=5353) / answer,
        eth / IP(src=CLIENT, dst=WEB) / TCP(sport=40000, dport=443, flags="S", seq=100),
        eth / IP(src=WEB, dst=CLIENT) / TCP(sport=443, dport=40000, flags="SA", seq=500, ack=101),
        eth / IP(src=CLIENT, dst=WEB) / TCP(sport=40000, dport=443, flags="A", seq=101, ack=501),
        eth / IP(src=CLIENT, dst=WEB) / TCP(sport=40000, dport=443, flags="PA", seq=101, ack=501)
        / Raw(client_hello("tls.example.org")),
        eth / IPv6(src="2001:db8::1", dst=WEB6) / TCP(sport=40001, dport=80, flags="PA", seq=1, ack=1)
        / Raw(_http_get("www.example.net")),
        eth / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=49152, dport=4789) / VXLAN(vni=100)
        / Ether(src=MAC_A, dst=MAC_B) / IP(src="172.16.0.1", dst="172.16.0.2")
        / TCP(sport=40002, dport=80, flags="PA", seq=1, ack=1)
        / Raw(_http_get("inner.example.net")),
    ]  # fmt: skip
    for i, packet in enumerate(packets):
        packet.time = (T0 + i * 10_000) / 1e6
    return packets


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcaps") / "app.pcap"
    wrpcap(str(path), _packets())
    return path


def _tshark_children() -> list[int]:
    """Processes named tshark whose parent is this test process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm, _, rest = stat.partition("(")[2].rpartition(")")
        if comm == "tshark" and int(rest.split()[1]) == os.getpid():
            found.append(int(pid))
    return found


def test_names_attached_to_their_flow_ids(capture: Path) -> None:
    metas = app_metadata(str(capture))
    assert [(m.flow_id, m.dns_qname, m.tls_sni, m.http_host) for m in metas] == [
        (DNS_FLOW, "dns.example.com", None, None),
        (DNS_FLOW, "dns.example.com", None, None),
        (TLS_FLOW, None, "tls.example.org", None),
        (HTTP_FLOW, None, None, "www.example.net"),
        (INNER_FLOW, None, None, "inner.example.net"),
    ]
    assert [m.ts_us for m in metas] == [T0, T0 + 10_000, T0 + 50_000, T0 + 60_000, T0 + 70_000]
    assert _tshark_children() == []


def _flow(flow_id: str, start: int, end: int, **names: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(FLOW_SCHEMA.names, 0)
    row.update(
        flow_id=flow_id, start=start, end=end, orig_addr="x", resp_addr="y", history="", conn_state="S0",
        vlan=None, inner_vlan=None, mpls=[], tunnel=None, tunnel_parents=[], end_reason="eof", tap_id="t",
        dns_qname=None, tls_sni=None, http_host=None,
    )  # fmt: skip
    row.update(names)
    return row


def test_annotate_fills_the_flow_whose_span_holds_the_packet() -> None:
    metas = [
        AppMeta(T0 + 10, DNS_FLOW, dns_qname="second.example"),
        AppMeta(T0 + 5, DNS_FLOW, dns_qname="first.example"),
        AppMeta(T0 + 20, TLS_FLOW, tls_sni="sni.example", http_host="host.example"),
        AppMeta(T0 + 500, DNS_FLOW, dns_qname="later.example"),
    ]
    rows = [
        _flow(DNS_FLOW, T0, T0 + 100),
        _flow(DNS_FLOW, T0 + 200, T0 + 300),  # same flow_id, later: nothing falls in its span
        _flow(DNS_FLOW, T0 + 500, T0 + 500),  # a one-packet flow: start == end == ts
        _flow(TLS_FLOW, T0, T0 + 20, tls_sni="kept.example"),
        _flow(HTTP_FLOW, T0, T0 + 100),
    ]
    table = pa.Table.from_pylist(rows, schema=FLOW_SCHEMA)
    out = annotate(table, metas)
    assert out.schema.equals(FLOW_SCHEMA)
    assert out.column("dns_qname").to_pylist() == ["first.example", None, "later.example", None, None]
    assert out.column("tls_sni").to_pylist() == [None, None, None, "kept.example", None]
    assert out.column("http_host").to_pylist() == [None, None, None, "host.example", None]
    assert out.drop_columns(["dns_qname", "tls_sni", "http_host"]).equals(
        table.drop_columns(["dns_qname", "tls_sni", "http_host"])
    )


def test_annotate_with_app_metadata(capture: Path) -> None:
    rows = [
        _flow(DNS_FLOW, T0, T0 + 10_000),
        _flow(TLS_FLOW, T0 + 20_000, T0 + 50_000),
        _flow(HTTP_FLOW, T0 + 60_000, T0 + 60_000),
    ]
    out = annotate(pa.Table.from_pylist(rows, schema=FLOW_SCHEMA), app_metadata(str(capture)))
    assert out.select(["dns_qname", "tls_sni", "http_host"]).to_pylist() == [
        {"dns_qname": "dns.example.com", "tls_sni": None, "http_host": None},
        {"dns_qname": None, "tls_sni": "tls.example.org", "http_host": None},
        {"dns_qname": None, "tls_sni": None, "http_host": "www.example.net"},
    ]


def test_not_a_capture_file(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("this is not a capture file\n" * 20)
    with pytest.raises(CaptureError) as err:
        app_metadata(str(bogus))
    assert err.value.path == str(bogus)
    assert err.value.__cause__ is not None
    assert _tshark_children() == []


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.pcap"
    with pytest.raises(CaptureError) as err:
        app_metadata(str(missing))
    assert err.value.path == str(missing)
    assert isinstance(err.value.__cause__, FileNotFoundError)
