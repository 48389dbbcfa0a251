"""A live capture on the loopback interface through open_source / LiveSource (needs root)."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from collectors._live import LiveSource
from collectors._packets import PacketBatch
from collectors._sources import open_source
from policies import CaptureError

pytestmark = pytest.mark.live

PORT = 45678


def send(payloads: list[bytes], port: int) -> None:
    """UDP datagrams to the loopback address only."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, ("127.0.0.1", port))


def udp_payload(frame: bytes) -> tuple[int, bytes]:
    """Destination port and payload of an Ethernet / IPv4 / UDP frame (loopback is Ethernet-framed)."""
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    (dport,) = struct.unpack_from(">H", frame, udp + 2)
    return dport, frame[udp + 8 :]


def capture_while(source: LiveSource, action: object, settle: float = 0.5) -> list[PacketBatch]:
    """Run the source in a thread, do ``action``, give the packets time to arrive, stop."""
    assert callable(action)
    got: list[PacketBatch] = []
    thread = threading.Thread(target=lambda: got.extend(source.batches()), daemon=True)
    thread.start()
    time.sleep(0.3)
    action()
    time.sleep(settle)
    source.stop()
    thread.join(timeout=3)
    assert not thread.is_alive(), "stop() did not end the capture"
    return got


def test_bpf_filter_lets_through_only_its_port() -> None:
    source = open_source("lo", bpf=f"udp port {PORT}")
    assert isinstance(source, LiveSource)
    assert source.linktype == 1
    wanted = [b"metagate-live-%d" % i for i in range(20)]

    def traffic() -> None:
        for payload in wanted:
            send([payload], PORT)
            send([b"other-port"], PORT + 1)

    before = time.time_ns() // 1000
    batches = capture_while(source, traffic)
    after = time.time_ns() // 1000
    frames = [(b.packet(i), int(b.ts_us[i]), int(b.linktype[i])) for b in batches for i in range(len(b))]
    assert [udp_payload(f) for f, _, _ in frames] == [(PORT, p) for p in wanted]
    assert all(before <= ts <= after and link == 1 for _, ts, link in frames)
    assert [int(r) for b in batches for r in b.record_offset] == list(range(len(wanted)))
    assert source.packets == len(wanted)
    stats = source.stats()
    assert stats.received >= len(wanted)
    assert stats.dropped == 0
    assert all(b.origin == "lo" for b in batches)


def test_batches_are_bounded_and_a_partial_one_comes_after_the_timeout() -> None:
    source = LiveSource("lo", bpf=f"udp port {PORT}", batch_size=4, timeout_ms=100)
    arrived: list[tuple[float, int]] = []

    def loop() -> None:
        for batch in source.batches():
            arrived.append((time.monotonic(), len(batch)))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.3)
    send([b"x%d" % i for i in range(6)], PORT)
    time.sleep(0.8)
    stopped = time.monotonic()
    source.stop()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert sum(n for _, n in arrived) == 6
    assert all(1 <= n <= 4 for _, n in arrived)
    assert all(at < stopped for at, _ in arrived)  # the remainder did not wait for a full batch


def test_stop_returns_promptly_without_traffic() -> None:
    source = LiveSource("lo", bpf="udp port 9", timeout_ms=200)
    got: list[PacketBatch] = []
    thread = threading.Thread(target=lambda: got.extend(source.batches()), daemon=True)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    source.stop()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert got == []


def test_bad_bpf_expression_names_the_filter() -> None:
    with pytest.raises(CaptureError, match="udp prot 1") as info:
        open_source("lo", bpf="udp prot 1")
    assert "lo" in str(info.value)


def test_missing_interface_is_a_capture_error() -> None:
    with pytest.raises(CaptureError, match="nosuchif0"):
        LiveSource("nosuchif0")
    with pytest.raises(CaptureError, match="no such file, directory or interface"):
        open_source("nosuchif0")
