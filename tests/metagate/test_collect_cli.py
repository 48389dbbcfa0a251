"""``metagate collect`` end to end: formats, bad input and exit status, ring resume after a crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

DATA = Path(__file__).parent.parent / "data" / "pcaps"
DEMO = Path(__file__).parent.parent.parent / "metagate" / "data" / "demo.pcap"


def metagate(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metagate", *args], capture_output=True, text=True, timeout=timeout)


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _key(flow: dict[str, object]) -> tuple[str, ...]:
    return tuple(str(flow[k]) for k in ("flow_id", "start", "end", "orig_pkts", "resp_pkts", "end_reason"))


_WHERE_ARROW_LOADS = r"""
import importlib.abc, json, sys, threading
loaded_on = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "pyarrow" and not loaded_on:
            loaded_on.append(threading.current_thread().name)
sys.meta_path.insert(0, Watch())
from metagate.cli import main
after_import = "pyarrow" in sys.modules
sys.argv = ["metagate", "collect", sys.argv[1], "-o", sys.argv[2]]
try:
    main()
except SystemExit as exit:
    status = exit.code
print(json.dumps({"status": status, "after_import": after_import, "loaded_on": loaded_on}))
"""


def test_a_collect_run_loads_arrow_on_its_writing_thread(tmp_path: Path) -> None:
    """The engine starts while Arrow (about 45 ms) loads beside it, on the thread that writes."""
    out = tmp_path / "flows.jsonl"
    done = subprocess.run([sys.executable, "-c", _WHERE_ARROW_LOADS, str(DEMO), str(out)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"status": 0, "after_import": False, "loaded_on": ["metagate-write-behind"]}
    assert out.read_text().count("\n") > 100


def test_collect_writes_flows_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "flows.jsonl"
    done = metagate("collect", str(DATA / "tcp_session.pcap"), "-o", str(out), "--tap-id", "tokyo-3")
    assert done.returncode == 0, done.stderr
    flows = _records(out)
    session = next(f for f in flows if f["proto"] == 6)
    assert session["conn_state"] == "SF" and session["history"] == "ShADadFf"
    assert {f["tap_id"] for f in flows} == {"tokyo-3"}
    assert "packets" in done.stderr and "flows 2" in done.stderr and "packets/s" in done.stderr


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    done = metagate("collect", str(DATA / "tcp_session.pcap"), "--format", "xml")
    assert done.returncode == 2 and "format" in done.stderr
    done = metagate("collect", str(DATA / "tcp_session.pcap"), "--idle-timeout", "tcp=soon")
    assert done.returncode == 2 and "idle-timeout" in done.stderr


def test_truncated_capture_is_partly_read(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.pcap"
    raw = (DATA / "tcp_states.pcap").read_bytes()
    damaged.write_bytes(raw[: len(raw) - 7])
    out = tmp_path / "flows.jsonl"
    done = metagate("collect", str(damaged), "-o", str(out))
    assert done.returncode == 3, done.stderr
    assert str(damaged) in done.stderr and "byte" in done.stderr
    assert len(_records(out)) >= 10, "every flow before the damage is still written"


def test_not_a_capture_among_good_ones(tmp_path: Path) -> None:
    junk = tmp_path / "notes.pcap"
    junk.write_text("this is not a capture\n" * 10)
    out = tmp_path / "flows.jsonl"
    done = metagate("collect", str(junk), str(DATA / "gtpu.pcap"), str(tmp_path / "missing.pcap"), "-o", str(out))
    assert done.returncode == 4, done.stderr
    assert "notes.pcap" in done.stderr and "missing.pcap" in done.stderr
    assert any(f["tunnel"] == "gtpu" for f in _records(out)), "the good capture is still collected"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "zeek"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"flows.{fmt}"
    done = metagate("collect", str(DATA / "vxlan.pcap"), "-o", str(out), "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    if fmt == "zeek":
        text = out.read_text()
        assert text.startswith("#separator \\x09") and text.rstrip().splitlines()[-1].startswith("#close")


def test_timeouts_and_flow_bound_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "flows.jsonl"
    done = metagate("collect", str(DATA / "tcp_active.pcap"), "-o", str(out), "--active-timeout", "600",
                    "--idle-timeout", "250")
    assert done.returncode == 0, done.stderr
    reasons = [f["end_reason"] for f in _records(out)]
    assert reasons.count("active") >= 3


def _consumed(state: Path) -> int:
    if not state.exists():
        return 0
    with state.open("rb") as handle:
        return len(json.loads(handle.readline())["consumed"])


def _write_pcap(path: Path, records: list[tuple[tuple[int, int, int, int], bytes]]) -> None:
    with path.open("wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for (sec, usec, _caplen, wirelen), frame in records:
            handle.write(struct.pack("<IIII", sec, usec, len(frame), wirelen) + frame)


def _ring_files(directory: Path, parts: int) -> list[Path]:
    with RawPcapReader(str(DEMO)) as reader:
        records = [(meta[:4], frame) for frame, meta in reader]
    size = -(-len(records) // parts)
    paths = []
    for k in range(parts):
        path = directory / f"ring_{k + 1:05d}.pcap"
        _write_pcap(path, records[k * size : (k + 1) * size])
        paths.append(path)
    return paths


def test_ring_resumes_after_a_crash_with_nothing_twice_and_nothing_missed(tmp_path: Path) -> None:
    whole_dir, ring = tmp_path / "whole", tmp_path / "ring"
    whole_dir.mkdir()
    ring.mkdir()
    files = _ring_files(whole_dir, 5)
    expected_out = tmp_path / "expected.jsonl"
    assert metagate("collect", str(whole_dir), "-o", str(expected_out)).returncode == 0
    expected = sorted(map(_key, _records(expected_out)))

    # a following run sees files 1-4 (4 is still "being written"), checkpoints 1-3, then dies
    for path in files[:4]:
        shutil.copy(path, ring)
    out, state = tmp_path / "flows.jsonl", tmp_path / "flows.state"
    running = subprocess.Popen([sys.executable, "-m", "metagate", "collect", str(ring), "--follow", "-o", str(out),
                                "--state", str(state)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _consumed(state) == 3:
            break
        time.sleep(0.1)
    else:
        running.kill()
        pytest.fail("no checkpoint after three files")
    os.kill(running.pid, signal.SIGKILL)
    running.wait()
    assert not out.exists(), "a crashed run leaves no file that looks complete"

    shutil.copy(files[4], ring)
    done = metagate("collect", str(ring), "-o", str(out), "--state", str(state))
    assert done.returncode == 0, done.stderr
    assert "resumed after 3" in done.stderr
    assert sorted(map(_key, _records(out))) == expected


def test_sigterm_stops_a_following_run_and_keeps_its_state(tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    ring.mkdir()
    for path in _ring_files(tmp_path, 3)[:2]:
        shutil.copy(path, ring)
    out = tmp_path / "flows.jsonl"
    running = subprocess.Popen([sys.executable, "-m", "metagate", "collect", str(ring), "--follow", "-o", str(out)],
                               stderr=subprocess.PIPE, text=True)
    state = Path(str(out) + ".state")
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    running.send_signal(signal.SIGTERM)
    _, err = running.communicate(timeout=30)
    assert running.returncode == 0, err
    assert "stopped" in err and out.exists()


@pytest.mark.live
def test_live_loopback_with_a_bpf_filter(tmp_path: Path) -> None:
    import socket

    out = tmp_path / "flows.jsonl"
    running = subprocess.Popen([sys.executable, "-m", "metagate", "collect", "lo", "--bpf", "udp port 45680",
                                "-o", str(out)], stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # the capture is open once the interpreter and libpcap are up
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(5):
            sender.sendto(b"hello", ("127.0.0.1", 45680))
            sender.sendto(b"filtered", ("127.0.0.1", 45681))
            time.sleep(0.05)
    time.sleep(1)
    running.send_signal(signal.SIGTERM)
    _, err = running.communicate(timeout=30)
    assert running.returncode == 0, err
    flows = _records(out)
    assert [(f["resp_port"], f["orig_pkts"]) for f in flows] == [(45680, 5)]
    assert flows[0]["end_reason"] == "eof"
