"""The tshark engine: the fast engine's flows plus the names tshark's dissectors read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectors import FlowConfig, make_engine, open_source
from policies import ConfigError

PCAPS = Path(__file__).parent.parent / "data" / "pcaps"


@pytest.mark.tshark
def test_dns_names_are_attached_to_their_flows(tmp_path: Path) -> None:
    out = tmp_path / "flows.jsonl"
    done = subprocess.run([sys.executable, "-m", "metagate", "collect", str(PCAPS / "udp_dns.pcap"), "-o", str(out),
                           "--engine", "tshark"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    flows = [json.loads(line) for line in out.read_text().splitlines()]
    dns = [f for f in flows if f["resp_port"] == 53]
    assert dns and all(f["dns_qname"] for f in dns)
    assert all(f["dns_qname"] is None for f in flows if f["resp_port"] != 53)


@pytest.mark.tshark
def test_same_flows_as_the_fast_engine() -> None:
    def run(name: str) -> list[tuple[str, int]]:
        engine = make_engine(name, FlowConfig())
        tables = [engine.feed(batch) for batch in open_source(str(PCAPS / "gtpu.pcap")).batches()]
        tables.append(engine.finish())
        return sorted((row["flow_id"], row["orig_pkts"]) for t in tables for row in t.to_pylist())

    assert run("tshark") == run("fast")


def test_live_interfaces_are_refused() -> None:
    from collectors import PacketBatch

    engine = make_engine("tshark")
    with pytest.raises(ConfigError, match="capture files"):
        engine.feed(PacketBatch.from_packets([(1, b"\x00" * 60)], origin="eth0"))
