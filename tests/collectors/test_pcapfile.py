"""pcap and pcapng files through open_source / FileSource: every variant, and damage."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import EDecimal, PcapNgWriter, wrpcap

from collectors._packets import PacketBatch
from collectors._pcapfile import FileSource
from collectors._sources import open_source
from policies import CaptureError, ConfigError, MetagateError, NotACaptureError

# --- writers for the odd variants -------------------------------------------------------


def pcap_bytes(
    records: list[tuple[int, int, bytes]], *, big: bool = False, nano: bool = False, linktype: int = 1
) -> bytes:
    """A classic pcap file: records are (seconds, micro- or nanoseconds, frame)."""
    e = ">" if big else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for sec, frac, frame in records:
        out.append(struct.pack(e + "IIII", sec, frac, len(frame), len(frame) + 4) + frame)
    return b"".join(out)


def ng_block(btype: int, body: bytes, *, big: bool = False) -> bytes:
    e = ">" if big else "<"
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def ng_shb(*, big: bool = False) -> bytes:
    e = ">" if big else "<"
    return ng_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), big=big)


def ng_idb(linktype: int, *, snaplen: int = 0, tsresol: int | None = None, big: bool = False) -> bytes:
    e = ">" if big else "<"
    body = struct.pack(e + "HHI", linktype, 0, snaplen)
    if tsresol is not None:
        body += struct.pack(e + "HH", 9, 1) + bytes([tsresol, 0, 0, 0]) + struct.pack(e + "HH", 0, 0)
    return ng_block(1, body, big=big)


def ng_epb(ifid: int, ts: int, frame: bytes, *, big: bool = False, btype: int = 6) -> bytes:
    e = ">" if big else "<"
    head = struct.pack(e + "I", ifid) if btype == 6 else struct.pack(e + "HH", ifid, 0)
    body = head + struct.pack(e + "IIII", ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame
    return ng_block(btype, body, big=big)


def ng_spb(frame: bytes, wirelen: int, *, big: bool = False) -> bytes:
    return ng_block(3, struct.pack(">I" if big else "<I", wirelen) + frame, big=big)


def frame(i: int, size: int = 20) -> bytes:
    """A distinct frame per index (its bytes identify it)."""
    return struct.pack(">I", i) + bytes((i + k) % 256 for k in range(size))


def read_all(path: Path, batch_size: int = 262144) -> tuple[FileSource, list[PacketBatch]]:
    source = open_source(str(path))
    assert isinstance(source, FileSource)
    return source, list(source.batches(batch_size))


def packets(batches: list[PacketBatch]) -> list[tuple[bytes, int, int, int]]:
    return [
        (b.packet(i), int(b.ts_us[i]), int(b.linktype[i]), int(b.wirelen[i])) for b in batches for i in range(len(b))
    ]


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# --- formats ------------------------------------------------------------------------------


def scapy_packets() -> list[Ether]:
    pkts = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=53) / Raw(b"q" * i)
        for i in range(1, 30)
    ]
    pkts.append(Ether() / IP() / TCP(flags="S"))
    for i, p in enumerate(pkts):
        p.time = EDecimal("1700000000.123456") + EDecimal(i) / 1000
    return pkts


@pytest.mark.parametrize("nano", [False, True])
def test_scapy_pcap_every_packet_comes_out(tmp_path: Path, nano: bool) -> None:
    pkts = scapy_packets()
    path = tmp_path / "s.pcap"
    wrpcap(str(path), pkts, nano=nano)
    source, batches = read_all(path)
    assert source.problems == []
    got = packets(batches)
    assert [g[0] for g in got] == [bytes(p) for p in pkts]
    assert [g[1] for g in got] == [1700000000123456 + i * 1000 for i in range(len(pkts))]
    assert {g[2] for g in got} == {1}
    assert [g[3] for g in got] == [len(p) for p in pkts]
    assert all(b.origin == str(path) for b in batches)


def test_scapy_pcapng(tmp_path: Path) -> None:
    pkts = scapy_packets()
    path = tmp_path / "s.pcapng"
    writer = PcapNgWriter(str(path))
    for p in pkts:
        writer.write(p)
    writer.close()
    source, batches = read_all(path)
    assert source.problems == []
    got = packets(batches)
    assert [g[0] for g in got] == [bytes(p) for p in pkts]
    assert [g[1] for g in got] == [1700000000123456 + i * 1000 for i in range(len(pkts))]
    assert {g[2] for g in got} == {1}


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_raw_pcap_byte_orders_and_resolutions(tmp_path: Path, big: bool, nano: bool) -> None:
    records = [(1700000000 + i, (999_999_999 if nano else 999_999) - i, frame(i)) for i in range(7)]
    path = write(tmp_path, "r.pcap", pcap_bytes(records, big=big, nano=nano, linktype=101))
    source, batches = read_all(path)
    assert source.problems == []
    got = packets(batches)
    assert [g[0] for g in got] == [f for _, _, f in records]
    assert [g[1] for g in got] == [(s * 1_000_000 + (f // 1000 if nano else f)) for s, f, _ in records]
    assert [g[2] for g in got] == [101] * 7
    assert [g[3] for g in got] == [len(f) + 4 for _, _, f in records]
    offsets = [int(r) for b in batches for r in b.record_offset]
    assert offsets == [24 + i * (16 + 24) for i in range(7)]


def test_pcapng_interfaces_resolutions_and_block_kinds(tmp_path: Path) -> None:
    """Two IDBs (Ethernet in ns, raw IP in 2^-20 s), SPB, obsolete PB, skipped blocks, a big-endian section."""
    sec = 1_700_000_000
    content = b"".join(
        [
            ng_shb(),
            ng_idb(1, snaplen=16, tsresol=9),
            ng_idb(101, tsresol=0x80 | 20),
            ng_epb(0, sec * 10**9 + 123_456_789, frame(0)),
            ng_epb(1, (sec << 20) + (1 << 19), frame(1)),
            ng_block(5, b"\0" * 20),  # interface statistics: skipped
            ng_spb(frame(2)[:16], 300),  # IDB 0's snaplen 16 cuts it
            ng_epb(1, (sec + 1) << 20, frame(3), btype=2),
            ng_block(0xBAD, b"custom"),
            ng_shb(big=True),
            ng_idb(113, big=True),  # default resolution: microseconds
            ng_epb(0, sec * 10**6 + 42, frame(4), big=True),
        ]
    )
    path = write(tmp_path, "two.pcapng", content)
    source, batches = read_all(path, batch_size=2)
    assert source.problems == []
    got = packets(batches)
    assert [g[0] for g in got] == [frame(0), frame(1), frame(2)[:16], frame(3), frame(4)]
    assert [g[2] for g in got] == [1, 101, 1, 101, 113]
    assert [g[1] for g in got] == [
        sec * 10**6 + 123_456,
        sec * 10**6 + 500_000,
        sec * 10**6 + 500_000,  # a simple packet block has no time: the previous packet's
        (sec + 1) * 10**6,
        sec * 10**6 + 42,
    ]
    assert got[2][3] == 300
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [b.last_of_origin for b in batches] == [False, False, True]


def test_batches_are_views_and_bounded(tmp_path: Path) -> None:
    records = [(1700000000, i, frame(i)) for i in range(10)]
    path = write(tmp_path, "b.pcap", pcap_bytes(records))
    _, batches = read_all(path, batch_size=4)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [b.last_of_origin for b in batches] == [False, False, True]
    assert all(b.data is batches[0].data or np.shares_memory(b.data, batches[0].data) for b in batches)
    assert batches[0].data.shape[0] == path.stat().st_size


@pytest.mark.parametrize(
    "content",
    [pcap_bytes([]), ng_shb(), ng_shb() + ng_idb(1)],
    ids=["pcap", "pcapng", "pcapng-idb-only"],
)
def test_no_packets_gives_one_empty_last_batch(tmp_path: Path, content: bytes) -> None:
    source, batches = read_all(write(tmp_path, "e.cap", content))
    assert len(batches) == 1
    assert len(batches[0]) == 0
    assert batches[0].last_of_origin
    assert source.problems == []


# --- damage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"\xd4\xc3", b"hello world, this is not a capture at all", pcap_bytes([])[:20], ng_shb()[:20]],
    ids=["empty", "two-bytes", "text", "short-pcap-header", "short-shb"],
)
def test_not_a_capture_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "junk.pcap", content)
    with pytest.raises(NotACaptureError) as info:
        open_source(str(path))
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_truncated_last_record(tmp_path: Path) -> None:
    records = [(1700000000, i, frame(i, 40)) for i in range(5)]
    content = pcap_bytes(records)
    path = write(tmp_path, "t.pcap", content[:-10])
    source, batches = read_all(path)
    assert [g[0] for g in packets(batches)] == [f for _, _, f in records[:4]]
    assert batches[-1].last_of_origin
    [problem] = source.problems
    assert problem.path == str(path)
    assert problem.offset == 24 + 4 * (16 + 44)
    assert "past the end" in problem.reason


def test_truncated_record_header(tmp_path: Path) -> None:
    content = pcap_bytes([(1700000000, 0, frame(0))])
    source, batches = read_all(write(tmp_path, "h.pcap", content + b"\0" * 7))
    assert len(packets(batches)) == 1
    [problem] = source.problems
    assert problem.offset == len(content)
    assert "header" in problem.reason


def test_absurd_length_in_the_middle_is_skipped(tmp_path: Path) -> None:
    records = [(1700000000 + i, i, frame(i, 30)) for i in range(8)]
    content = bytearray(pcap_bytes(records))
    bad = 24 + 3 * (16 + 34)
    content[bad + 8 : bad + 12] = struct.pack("<I", 0x7FFFFFF0)  # packet 3's caplen
    path = write(tmp_path, "a.pcap", bytes(content))
    source, batches = read_all(path)
    got = [g[0] for g in packets(batches)]
    assert got == [f for i, (_, _, f) in enumerate(records) if i != 3]
    [problem] = source.problems
    assert (problem.path, problem.offset) == (str(path), bad)
    assert "absurd" in problem.reason
    assert "skipped 50 bytes" in problem.reason
    assert f"at byte {bad}" in str(problem)


def test_absurd_length_without_recovery_stops(tmp_path: Path) -> None:
    content = bytearray(pcap_bytes([(1700000000, 0, frame(0)), (1700000000, 1, frame(1))]))
    content[24 + 8 : 24 + 12] = b"\xff\xff\xff\xff"
    content += b"\xff" * 100
    source, batches = read_all(write(tmp_path, "x.pcap", bytes(content)))
    assert packets(batches) == []
    assert batches[-1].last_of_origin
    [problem] = source.problems
    assert problem.offset == 24 and "no plausible record" in problem.reason


def test_pcapng_bad_block_length_resynchronises(tmp_path: Path) -> None:
    blocks = [ng_shb(), ng_idb(1)] + [ng_epb(0, 1_700_000_000_000_000 + i, frame(i)) for i in range(5)]
    bad = sum(len(b) for b in blocks[:4])  # packet 2's block
    content = bytearray(b"".join(blocks))
    content[bad + 4 : bad + 8] = struct.pack("<I", 0xFFFFFF00)
    path = write(tmp_path, "bad.pcapng", bytes(content))
    source, batches = read_all(path)
    assert [g[0] for g in packets(batches)] == [frame(0), frame(1), frame(3), frame(4)]
    [problem] = source.problems
    assert (problem.path, problem.offset) == (str(path), bad)
    assert "bad block length" in problem.reason


def test_pcapng_truncated_and_unknown_interface(tmp_path: Path) -> None:
    blocks = [ng_shb(), ng_idb(1), ng_epb(0, 5, frame(0)), ng_epb(7, 6, frame(1)), ng_epb(0, 7, frame(2))]
    content = b"".join(blocks)
    path = write(tmp_path, "t.pcapng", content[:-9])
    source, batches = read_all(path)
    assert [g[0] for g in packets(batches)] == [frame(0)]
    assert [p.offset for p in source.problems] == [sum(len(b) for b in blocks[:3]), sum(len(b) for b in blocks[:4])]
    assert "interface" in source.problems[0].reason


def test_open_source_rejects_bpf_on_files_and_unknown_names(tmp_path: Path) -> None:
    path = write(tmp_path, "f.pcap", pcap_bytes([]))
    with pytest.raises(ConfigError, match="--bpf applies to live interfaces"):
        open_source(str(path), bpf="tcp")
    with pytest.raises(CaptureError, match="no such file, directory or interface"):
        open_source(str(tmp_path / "missing.pcap"))


def test_stop_ends_a_file_early(tmp_path: Path) -> None:
    path = write(tmp_path, "s.pcap", pcap_bytes([(1700000000, i, frame(i)) for i in range(20)]))
    source, seen = FileSource(path), []
    for batch in source.batches(5):
        seen.append(batch)
        source.stop()
    assert len(seen) == 1 and not seen[0].last_of_origin


# --- properties ---------------------------------------------------------------------------

VALID_PCAP = pcap_bytes([(1700000000 + i, i * 7, frame(i, 10 + i)) for i in range(12)])
VALID_PCAPNG = b"".join(
    [ng_shb(), ng_idb(1), ng_idb(101, tsresol=9)]
    + [ng_epb(i % 2, 1_700_000_000_000_000 + i, frame(i, 5 + i)) for i in range(10)]
    + [ng_spb(frame(99), 40)]
)
FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def survive(content: bytes) -> int:
    """Read a file made of ``content`` to the end; only metagate errors may come out."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.pcap"
        path.write_bytes(content)
        try:
            source = FileSource(path)
        except NotACaptureError:
            return -1
        total = 0
        for batch in source.batches(7):
            total += len(batch)
            assert np.all(batch.offset + batch.caplen <= batch.data.shape[0])
            assert np.all(batch.caplen >= 0)
        assert all(isinstance(p, MetagateError) and p.path == str(path) for p in source.problems)
        return total


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(content: bytes) -> None:
    survive(content)


@FUZZ
@given(st.sampled_from([VALID_PCAP[:4], VALID_PCAP[:24], VALID_PCAPNG[:28]]), st.binary(max_size=600))
def test_random_bytes_after_a_valid_header(head: bytes, tail: bytes) -> None:
    survive(head + tail)


@FUZZ
@given(st.sampled_from([VALID_PCAP, VALID_PCAPNG]), st.data())
def test_truncations_and_corruptions_of_a_valid_capture(content: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(content)))
    damaged = bytearray(content[:cut])
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        if damaged:
            at = data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))
            damaged[at] = data.draw(st.integers(min_value=0, max_value=255))
    count = survive(bytes(damaged))
    if cut == len(content) and damaged == bytearray(content):
        assert count == (12 if content is VALID_PCAP else 11)
