"""No payload byte, MAC address or GTP TEID reaches any output, whatever the engine or format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw
from scapy.utils import wrpcap

CANARY = b"CANARY-7f3a9c"
MAC = "02:de:ad:be:ef:42"
TEID = 0x5EC12E7


def _capture(path: Path) -> None:
    eth = Ether(src=MAC, dst="02:00:00:00:00:01")
    body = Raw(b"POST /upload HTTP/1.1\r\nHost: example.test\r\n\r\n" + CANARY * 4)
    packets = [
        eth / IP(src="192.0.2.1", dst="198.51.100.2") / TCP(sport=40000, dport=80, flags="PA") / body,
        eth / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=40001, dport=9999) / Raw(CANARY),
        eth / IP(src="192.0.2.1", dst="198.51.100.2") / ICMP() / Raw(CANARY),
        eth / Dot1Q(vlan=5) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2) / Raw(CANARY),
        eth / IP(src="192.0.2.9", dst="198.51.100.9") / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=TEID) / IP(src="10.1.0.1", dst="203.0.113.5") / TCP(sport=5, dport=443) / Raw(CANARY),
        eth / IP(src="192.0.2.9", dst="198.51.100.9") / UDP(sport=4000, dport=4789) / VXLAN(vni=7)
        / Ether(src=MAC, dst="02:00:00:00:00:09") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=3, dport=4)
        / Raw(CANARY),
        eth / IP(src="192.0.2.9", dst="198.51.100.9") / GRE() / IP(src="10.2.0.1", dst="10.2.0.2") / Raw(CANARY),
        eth / IP(src="192.0.2.1", dst="198.51.100.2", flags="MF", id=9) / UDP(sport=7, dport=8) / Raw(CANARY),
        eth / IP(src="192.0.2.1", dst="198.51.100.2", frag=4, id=9, proto=17) / Raw(CANARY),
    ]
    for i, packet in enumerate(packets):
        packet.time = 1_710_000_000 + i
    wrpcap(str(path), packets)


@pytest.mark.parametrize("engine", ["fast", "scapy", "tshark"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "zeek"])
def test_no_canary_in_any_output(tmp_path: Path, engine: str, fmt: str) -> None:
    capture = tmp_path / "canary.pcap"
    _capture(capture)
    assert CANARY in capture.read_bytes()
    out = tmp_path / f"flows.{fmt}"
    done = subprocess.run([sys.executable, "-m", "metagate", "collect", str(capture), "-o", str(out), "--format", fmt,
                           "--engine", engine], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = out.read_bytes()
    assert len(written) > 200
    for secret in (CANARY, CANARY[:8], bytes.fromhex(MAC.replace(":", "")), MAC.encode(), TEID.to_bytes(4, "big"),
                   str(TEID).encode(), f"{TEID:x}".encode()):
        assert secret not in written, secret
        assert secret not in done.stderr
