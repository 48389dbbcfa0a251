"""Shared by the flow-record tests: a capture built with scapy, our pcap collector's view of it,
free loopback ports, and a wait for a listener to be up."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from collectors import Collector, make_engine

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def write_capture(path: Path) -> None:
    """TCP sessions (v4 and v6), UDP exchanges and an ICMP echo: each 5-tuple once, all within 5 s."""
    from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap

    packets: list[Any] = []
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    def at(dt: float, pkt: Any) -> None:
        pkt.time = T0 + dt
        packets.append(pkt)

    def session(ip: Any, a: str, b: str, sport: int, dport: int, t: float, data: int) -> None:
        at(t, eth / ip(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="S", seq=100))
        at(t + 0.01, eth / ip(src=b, dst=a) / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101))
        at(t + 0.02, eth / ip(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="A", seq=101, ack=501))
        at(t + 0.03, eth / ip(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="PA", seq=101, ack=501)
           / Raw(b"q" * data))  # fmt: skip
        at(t + 0.04, eth / ip(src=b, dst=a) / TCP(sport=dport, dport=sport, flags="PA", seq=501, ack=101 + data)
           / Raw(b"r" * (3 * data)))  # fmt: skip
        at(t + 0.05, eth / ip(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="FA", seq=101 + data, ack=501))
        at(t + 0.06, eth / ip(src=b, dst=a) / TCP(sport=dport, dport=sport, flags="FA", seq=501, ack=102 + data))
        at(t + 0.07, eth / ip(src=a, dst=b) / TCP(sport=sport, dport=dport, flags="A", seq=102 + data, ack=502))

    for i in range(6):
        session(IP, f"192.0.2.{10 + i}", "198.51.100.20", 40000 + i, 80 + i, 0.1 * i, 20 + 10 * i)
    session(IPv6, "2001:db8:a::10", "2001:db8:ff::20", 41000, 443, 0.9, 64)
    for i in range(4):
        at(1.0 + 0.1 * i, eth / IP(src="192.0.2.50", dst="198.51.100.53") / UDP(sport=5000 + i, dport=53)
           / Raw(b"x" * (20 + i)))  # fmt: skip
        at(1.05 + 0.1 * i, eth / IP(src="198.51.100.53", dst="192.0.2.50") / UDP(sport=53, dport=5000 + i)
           / Raw(b"y" * (80 + i)))  # fmt: skip
    at(2.0, eth / IP(src="203.0.113.5", dst="198.51.100.99") / UDP(sport=6000, dport=9999) / Raw(b"z" * 10))
    at(2.5, eth / IP(src="192.0.2.60", dst="198.51.100.70") / ICMP(type=8, id=1, seq=1) / Raw(b"p" * 32))
    at(2.51, eth / IP(src="198.51.100.70", dst="192.0.2.60") / ICMP(type=0, id=1, seq=1) / Raw(b"p" * 32))
    wrpcap(str(path), packets)


def pcap_flows(capture: Path, work: Path) -> list[dict[str, Any]]:
    """What our own pcap collector says about the capture."""
    out = work / "from_pcap.jsonl"
    Collector(make_engine("fast"), str(out), "jsonl").run([str(capture)])
    return [json.loads(line) for line in out.read_text().splitlines()]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_bound(port: int, kind: int = socket.SOCK_DGRAM, timeout: float = 60.0) -> None:
    """Until a socket is bound (UDP) or listening (TCP) on port ``port``, or fail.

    Read from /proc/net, so that looking never takes the port from the one being waited for.
    """
    table = Path("/proc/net/udp" if kind == socket.SOCK_DGRAM else "/proc/net/tcp")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and (kind == socket.SOCK_DGRAM or state == "0A"):
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")
