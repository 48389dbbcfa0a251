"""IPFIX out: our records encoded and read back, message sizes, templates, the file format, the CLI
listener with --policy / --detect / --export."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from collectors import (
    Collector,
    FlowDecoder,
    FlowListener,
    IpfixEncoder,
    ListenOptions,
    flow_table,
    make_engine,
    read_flow_file,
    read_ipfix_file,
)
from tests.collectors.flowpeers import free_port, wait_bound

TESTS = Path(__file__).parent.parent
PCAPS = TESTS / "data" / "pcaps"
POLICIES = TESTS / "data" / "policies"
GOLDEN = ["tcp_session", "tcp_states", "udp_dns", "icmp", "vlan", "ipv6_ext", "fragments", "tcp_active"]
KEPT = [
    "flow_id", "ip_version", "proto", "orig_addr", "orig_port", "resp_addr", "resp_port", "orig_pkts",
    "resp_pkts", "orig_ip_bytes", "resp_ip_bytes", "orig_tcp_flags", "resp_tcp_flags", "vlan", "end_reason",
]  # fmt: skip


def _collect(name: str, tmp_path: Path) -> pa.Table:
    out = tmp_path / f"{name}.parquet"
    Collector(make_engine("fast"), str(out), "parquet").run([str(PCAPS / f"{name}.pcap")])
    return pa.concat_tables(list(read_flow_file(out)))


def _comparable(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.select(KEPT).to_pylist()
    for row, start, end in zip(rows, table["start"].cast(pa.int64()).to_pylist(),
                               table["end"].cast(pa.int64()).to_pylist(), strict=True):  # fmt: skip
        row["start_ms"], row["end_ms"] = start // 1000, end // 1000
    return sorted(rows, key=lambda r: (r["flow_id"], r["start_ms"]))


def _decode(messages: list[bytes]) -> pa.Table:
    decoder = FlowDecoder()
    for message in messages:
        decoder.feed(message, "127.0.0.1:1")
    assert not decoder.stats.problems and decoder.stats.lost_records == 0
    return flow_table(decoder.drain(), "tap0", decoder.stats)


@pytest.mark.parametrize("name", GOLDEN)
def test_our_records_survive_ipfix_and_back(name: str, tmp_path: Path) -> None:
    table = _collect(name, tmp_path)
    assert table.num_rows
    back = _decode(IpfixEncoder().encode(table))
    assert _comparable(back) == _comparable(table)
    assert set(back["history"].to_pylist()) == {""}  # no packet order in a flow record


def test_conn_state_from_flags_agrees_on_complete_sessions(tmp_path: Path) -> None:
    table = _collect("tcp_session", tmp_path)
    back = _decode(IpfixEncoder().encode(table))
    states = dict(zip(table["flow_id"].to_pylist(), table["conn_state"].to_pylist(), strict=True))
    assert dict(zip(back["flow_id"].to_pylist(), back["conn_state"].to_pylist(), strict=True)) == states
    assert "SF" in states.values()


def test_messages_fit_the_mtu_and_templates_come_again(tmp_path: Path) -> None:
    table = pa.concat_tables([_collect(name, tmp_path) for name in GOLDEN])
    table = pa.concat_tables([table] * 20)
    encoder = IpfixEncoder(max_message=512, template_refresh=None, refresh_messages=5)
    messages = encoder.encode(table)
    assert all(len(m) <= 512 for m in messages) and len(messages) > 20
    with_templates = [i for i, m in enumerate(messages) if struct.unpack_from("!H", m, 16)[0] == 2]
    assert with_templates[0] == 0 and all(b - a <= 6 for a, b in itertools.pairwise(with_templates))
    seqs = [struct.unpack_from("!I", m, 8)[0] for m in messages]
    assert seqs[0] == 0 and seqs == sorted(seqs) and encoder.records == table.num_rows
    # a collector that starts late still learns the templates
    late = _decode(messages[with_templates[1]:])
    assert late.num_rows == table.num_rows - encoder_records_before(messages, with_templates[1])


def encoder_records_before(messages: list[bytes], index: int) -> int:
    return int(struct.unpack_from("!I", messages[index], 8)[0])


def _metagate(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAGATE_ACTOR": "tester"}
    return subprocess.run([sys.executable, "-m", "metagate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def test_collect_format_ipfix_writes_a_file_of_messages(tmp_path: Path) -> None:
    captures = [str(PCAPS / f"{name}.pcap") for name in GOLDEN]
    assert _metagate(tmp_path, "collect", *captures, "-o", "flows.jsonl").returncode == 0
    done = _metagate(tmp_path, "collect", *captures, "--format", "ipfix", "-o", "flows.ipfix")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "flows.ipfix.partial").exists()
    data = (tmp_path / "flows.ipfix").read_bytes()
    assert struct.unpack_from("!H", data, 0)[0] == 10
    expected = pa.concat_tables(list(read_flow_file(tmp_path / "flows.jsonl")))
    back = pa.concat_tables(list(read_ipfix_file(tmp_path / "flows.ipfix")))
    assert _comparable(back) == _comparable(expected)


def test_listener_feeds_the_gate_and_the_detectors_and_exports_gated_records(tmp_path: Path) -> None:
    for item in POLICIES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    assert _metagate(tmp_path, "audit", "init").returncode == 0
    captures = [str(PCAPS / f"{name}.pcap") for name in GOLDEN]
    done = _metagate(tmp_path, "collect", *captures, "--policy", "site-jp.yaml", "-o", "from_pcap.jsonl")
    assert done.returncode == 0, done.stderr
    flows = pa.concat_tables([_collect(name, tmp_path) for name in GOLDEN])
    messages = IpfixEncoder().encode(flows)

    # where the gated records are exported to: a listener of ours
    sink = FlowListener("ipfix://127.0.0.1:0", ListenOptions(stop_when_idle=3.0))
    exported: list[pa.Table] = []
    sink_thread = threading.Thread(target=lambda: exported.extend(sink.tables()))
    sink_thread.start()

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "metagate", "collect", f"ipfix://127.0.0.1:{port}", "--policy", "site-jp.yaml",
         "--detect", "findings.jsonl", "-o", "gated.jsonl", "--stop-after-messages", str(len(messages)),
         "--export", f"ipfix://127.0.0.1:{sink.address[1]}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "METAGATE_ACTOR": "tester"},
    )  # fmt: skip
    try:
        wait_bound(port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as router:
            for message in messages:
                router.sendto(message, ("127.0.0.1", port))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        sink_thread.join(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "findings.jsonl").exists() and "findings" in err
    gated = [json.loads(line) for line in (tmp_path / "gated.jsonl").read_text().splitlines()]
    from_pcap = [json.loads(line) for line in (tmp_path / "from_pcap.jsonl").read_text().splitlines()]
    assert gated and "traffic_class" in gated[0] and "policy" in gated[0]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["orig_addr"], r.get("orig_port"), r["resp_addr"], r.get("resp_port"), r.get("orig_pkts"),
                r.get("resp_pkts"), r.get("orig_ip_bytes"), r.get("resp_ip_bytes"), r["traffic_class"])  # fmt: skip

    assert sorted(map(key, gated)) == sorted(map(key, from_pcap))
    # pseudonymized addresses are still addresses: the export carries the gated ones
    out = [row for t in exported for row in t.to_pylist()]
    assert sorted((r["orig_addr"], r["resp_addr"], r["orig_pkts"]) for r in out) == sorted(
        (r["orig_addr"], r["resp_addr"], r.get("orig_pkts")) for r in gated
    )
    assert f"exported {len(gated)} records" in err
    ledger = _metagate(tmp_path, "audit", "show")
    assert ledger.returncode == 0 and '"gate.run"' in ledger.stdout
