"""Capture-ring directories through open_source / RingSource: order, follow, restart."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

from collectors._packets import PacketBatch
from collectors._ring import RingSource, natural_key
from collectors._sources import open_source
from policies import NotACaptureError


def capture(file_no: int, count: int = 3) -> bytes:
    """A pcap file whose frames say which file and packet they are."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(count):
        frame = struct.pack(">II", file_no, i) + b"\xaa" * 20
        out.append(struct.pack("<IIII", 1_700_000_000 + file_no, i, len(frame), len(frame)) + frame)
    return b"".join(out)


def write(directory: Path, name: str, file_no: int, count: int = 3) -> None:
    """Write as a capture writer would: under a hidden name, then renamed into place."""
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(capture(file_no, count))
    tmp.rename(directory / name)


def ids(batches: list[PacketBatch]) -> list[tuple[int, int]]:
    return [struct.unpack(">II", b.packet(i)[:8]) for b in batches for i in range(len(b))]


def test_natural_order() -> None:
    names = ["cap10", "cap", "cap2", "cap1", "r_00010_x.pcap", "r_00009_x.pcap"]
    assert sorted(names, key=natural_key) == ["cap", "cap1", "cap2", "cap10", "r_00009_x.pcap", "r_00010_x.pcap"]


def test_every_file_in_order_then_stop(tmp_path: Path) -> None:
    for no, name in enumerate(["cap", "cap1", "cap2", "cap10"]):  # tcpdump -C: no suffix, pcap magic
        write(tmp_path, name, no)
    write(tmp_path, "zz_2.pcap", 5)
    write(tmp_path, "zz_10.pcap", 6)
    (tmp_path / "README.txt").write_text("not a capture, not a capture name: ignored")
    (tmp_path / "broken.pcap").write_bytes(b"this is no capture")
    source = open_source(str(tmp_path))
    assert isinstance(source, RingSource)
    batches = list(source.batches(2))
    assert ids(batches) == [(no, i) for no in (0, 1, 2, 3, 5, 6) for i in range(3)]
    assert source.consumed == ["cap", "cap1", "cap2", "cap10", "zz_2.pcap", "zz_10.pcap"]
    [problem] = source.problems
    assert isinstance(problem, NotACaptureError)
    assert problem.path == str(tmp_path / "broken.pcap")
    lasts = [b.origin for b in batches if b.last_of_origin]
    assert lasts == [str(tmp_path / n) for n in source.consumed]


def test_a_file_is_consumed_when_its_last_batch_is_handed_out(tmp_path: Path) -> None:
    write(tmp_path, "a1.pcap", 1)
    write(tmp_path, "a2.pcap", 2)
    source = RingSource(tmp_path)
    for batch in source.batches(2):
        name = Path(batch.origin).name
        assert (name in source.consumed) == batch.last_of_origin


def test_damage_inside_a_ring_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "d1.pcap").write_bytes(capture(1)[:-5])
    write(tmp_path, "d2.pcap", 2)
    source = RingSource(tmp_path)
    assert ids(list(source.batches())) == [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    [problem] = source.problems
    assert problem.path == str(tmp_path / "d1.pcap")
    assert source.consumed == ["d1.pcap", "d2.pcap"]


def run_in_thread(source: RingSource) -> tuple[threading.Thread, list[PacketBatch]]:
    got: list[PacketBatch] = []

    def loop() -> None:
        got.extend(source.batches())

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread, got


def wait_for(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_follow_takes_a_file_once_a_newer_one_exists(tmp_path: Path) -> None:
    write(tmp_path, "f_1.pcap", 1)
    source = RingSource(tmp_path, follow=True, poll_interval=0.05)
    thread, got = run_in_thread(source)
    time.sleep(0.3)
    assert got == [] and source.consumed == []  # f_1 may still be written to
    write(tmp_path, "f_2.pcap", 2)
    wait_for(lambda: source.consumed == ["f_1.pcap"])
    write(tmp_path, "f_10.pcap", 3)
    wait_for(lambda: source.consumed == ["f_1.pcap", "f_2.pcap"])
    started = time.monotonic()
    source.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert ids(got) == [(no, i) for no in (1, 2) for i in range(3)]


def test_follow_with_tcpdump_names_and_a_fresh_empty_file(tmp_path: Path) -> None:
    write(tmp_path, "cap", 0)
    (tmp_path / "cap1").write_bytes(b"")  # just opened by tcpdump, header still buffered
    source = RingSource(tmp_path, follow=True, poll_interval=0.05)
    thread, got = run_in_thread(source)
    wait_for(lambda: source.consumed == ["cap"])
    source.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert ids(got) == [(0, i) for i in range(3)]
    assert source.problems == []


@pytest.mark.parametrize("follow", [False, True])
def test_restart_with_skip_reads_no_file_twice_and_misses_none(tmp_path: Path, follow: bool) -> None:
    for no in range(1, 6):
        write(tmp_path, f"ring_{no:05d}.pcap", no)
    first = RingSource(tmp_path, follow=follow, poll_interval=0.05)
    seen: list[PacketBatch] = []
    for batch in first.batches(2):
        seen.append(batch)
        if len(first.consumed) == 2:
            first.stop()
    checkpoint = frozenset(first.consumed)
    assert checkpoint == {"ring_00001.pcap", "ring_00002.pcap"}

    write(tmp_path, "ring_00006.pcap", 6)  # the writer went on meanwhile
    second = open_source(str(tmp_path), follow=follow, skip=checkpoint)
    assert isinstance(second, RingSource)
    if follow:
        thread, got = run_in_thread(second)
        wait_for(lambda: len(second.consumed) == 3)
        second.stop()
        thread.join(timeout=2)
        assert not thread.is_alive()
    else:
        got = list(second.batches(2))
    done_first = [(no, i) for no, i in ids(seen) if f"ring_{no:05d}.pcap" in checkpoint]
    last = 6 if follow else 7
    assert sorted(done_first + ids(got)) == [(no, i) for no in range(1, last) for i in range(3)]
    assert len(done_first + ids(got)) == len(set(done_first + ids(got)))
    assert set(second.consumed).isdisjoint(checkpoint)


def test_stop_while_waiting_returns_promptly(tmp_path: Path) -> None:
    source = RingSource(tmp_path, follow=True, poll_interval=30.0)
    thread, got = run_in_thread(source)
    time.sleep(0.2)
    started = time.monotonic()
    source.stop()
    thread.join(timeout=2)
    assert not thread.is_alive() and got == []
    assert time.monotonic() - started < 0.5
