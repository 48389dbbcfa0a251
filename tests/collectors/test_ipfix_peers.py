"""Real peers: softflowd exports a capture to our listener; nfcapd receives our export, nfdump reads it.

Both paths are held to what our own pcap collector says about the same capture. The
correspondence asserted (the capture has each 5-tuple once and lasts 3 s, so no timeout
splits a flow on either side):

- softflowd v5 / v9 / IPFIX without ``-b`` sends one record a direction that saw packets:
  the originator's record is our flow's (orig -> resp, orig_pkts, orig_ip_bytes), the
  responder's is (resp -> orig, resp_pkts, resp_ip_bytes). Both carry our flow's Community
  ID. softflowd counts IP bytes (the IP total length), as we do. v5 carries IPv4 only.
- softflowd IPFIX with ``-b`` sends one RFC 5103 biflow a flow; its source is the end
  softflowd keys first, not always the originator, so the two ends are compared as a pair.
- Our export (biflows) read back by nfdump: one flow a record, source = our originator,
  in = forward counters, out = reverse counters.
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from collectors import FlowListener, ListenOptions
from tests.collectors.flowpeers import free_port, pcap_flows, wait_bound, write_capture

pytestmark = pytest.mark.slow

End = tuple[str, int]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("flowpeers")
    path = work / "peers.pcap"
    write_capture(path)
    flows = pcap_flows(path, work)
    assert len(flows) == 13  # 7 TCP sessions, 5 UDP flows, 1 ICMP echo
    return path, flows


def _softflowd(capture: Path, port: int, version: str, work: Path) -> None:
    args = ["softflowd", "-r", str(capture), "-n", f"127.0.0.1:{port}", "-d", "-T", "full",
            "-p", str(work / "softflowd.pid")]  # fmt: skip
    args += ["-v", "10", "-b"] if version == "10b" else ["-v", version]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _listen(spec: str, capture: Path, version: str, work: Path) -> tuple[list[dict[str, Any]], FlowListener]:
    listener = FlowListener(spec, ListenOptions(stop_when_idle=2.0))
    tables: list[pa.Table] = []
    thread = threading.Thread(target=lambda: tables.extend(listener.tables()))
    thread.start()
    try:
        _softflowd(capture, listener.address[1], version, work)
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive()
    return [row for t in tables for row in t.to_pylist()], listener


def _directions(flows: list[dict[str, Any]], v4_only: bool) -> dict[tuple[Any, ...], tuple[int, int, str]]:
    """Our flows as one entry a direction with packets: (src, sport, dst, dport, proto) -> (pkts, bytes, id)."""
    out = {}
    for f in flows:
        if v4_only and f["ip_version"] != 4:
            continue
        fwd = (f["orig_addr"], f["orig_port"], f["resp_addr"], f["resp_port"], f["proto"])
        out[fwd] = (f["orig_pkts"], f["orig_ip_bytes"], f["flow_id"])
        if f["resp_pkts"]:
            rev = (f["resp_addr"], f["resp_port"], f["orig_addr"], f["orig_port"], f["proto"])
            out[rev] = (f["resp_pkts"], f["resp_ip_bytes"], f["flow_id"])
    return out


@pytest.mark.parametrize(("scheme", "version"), [("netflow", "5"), ("netflow", "9"), ("ipfix", "10")])
def test_softflowd_uniflows_match_our_pcap_flows(
    capture: tuple[Path, list[dict[str, Any]]], scheme: str, version: str, tmp_path: Path
) -> None:
    path, flows = capture
    records, listener = _listen(f"{scheme}://127.0.0.1:0", path, version, tmp_path)
    expected = _directions(flows, v4_only=version == "5")
    got = {
        (r["orig_addr"], r["orig_port"], r["resp_addr"], r["resp_port"], r["proto"]):
        (r["orig_pkts"], r["orig_ip_bytes"], r["flow_id"])
        for r in records
    }  # fmt: skip
    assert len(records) == len(expected)
    assert got == expected
    assert all(r["resp_pkts"] == 0 for r in records)
    assert {r["flow_id"] for r in records} == {f["flow_id"] for f in flows if version != "5" or f["ip_version"] == 4}
    stats = listener.stats
    assert stats.lost_records == stats.lost_datagrams == stats.expired_sets == 0 and not stats.problems


def _by_flow(rows: list[dict[str, Any]]) -> dict[str, dict[str, tuple[int, int]]]:
    """Packets and IP bytes each address sent, by Community ID (summed over records)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        ends = out.setdefault(r["flow_id"], {})
        for side in ("orig", "resp"):
            pkts, octets = ends.get(r[f"{side}_addr"], (0, 0))
            ends[r[f"{side}_addr"]] = (pkts + r[f"{side}_pkts"], octets + r[f"{side}_ip_bytes"])
    return out


def test_softflowd_ipfix_biflows_match_our_pcap_flows(
    capture: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """One biflow a flow, except ICMP: softflowd keys it by type, so request and reply are two."""
    path, flows = capture
    records, listener = _listen("ipfix://127.0.0.1:0", path, "10b", tmp_path)
    icmp = [f for f in flows if f["proto"] == 1]
    assert len(records) == len(flows) + len(icmp)
    assert _by_flow(records) == _by_flow(flows)
    # the originator is the end that sent first, also where softflowd's biflow starts at the other end
    one_way = next(f for f in flows if f["orig_addr"] == "203.0.113.5")
    [record] = [r for r in records if r["flow_id"] == one_way["flow_id"]]
    assert (record["orig_addr"], record["orig_port"], record["orig_pkts"], record["resp_pkts"]) == (
        "203.0.113.5", 6000, 1, 0
    )  # fmt: skip
    assert all(r["orig_pkts"] > 0 for r in records)
    assert not listener.stats.problems and listener.stats.lost_records == 0


def test_cli_listener_stops_on_sigterm_and_renames_its_output(
    capture: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    path, flows = capture
    port = free_port()
    out = tmp_path / "flows.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "metagate", "collect", f"netflow://127.0.0.1:{port}", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_bound(port)
        _softflowd(path, port, "9", tmp_path)
        threading.Event().wait(1.5)  # the datagrams are in the socket buffer; let the listener read them
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.exists() and not out.with_name(out.name + ".partial").exists()
    assert len(out.read_text().splitlines()) == len(_directions(flows, v4_only=False))
    assert "flow messages" in err and "v9" in err and "lost: records 0" in err


@pytest.fixture
def nfcapd(tmp_path: Path) -> Any:
    port = free_port()
    store = tmp_path / "nfcapd"
    store.mkdir()
    proc = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(store)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_bound(port)
        yield port, store, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def _nfdump(store: Path) -> list[dict[str, str]]:
    """nfdump's CSV of every flow in the store: a header, a row a flow, then a summary."""
    proc = subprocess.run(["nfdump", "-R", str(store), "-o", "csv"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith("ts,te,td,sa,da,sp,dp,pr"), proc.stdout[:200]
    end = lines.index("Summary") if "Summary" in lines else len(lines)
    return list(csv.DictReader(io.StringIO("\n".join(lines[:end]))))


def test_our_export_read_back_by_nfdump(
    capture: tuple[Path, list[dict[str, Any]]], tmp_path: Path, nfcapd: Any
) -> None:
    path, flows = capture
    port, store, proc = nfcapd
    done = subprocess.run(
        [sys.executable, "-m", "metagate", "collect", str(path), "--export", f"ipfix://127.0.0.1:{port}",
         "-o", str(tmp_path / "flows.jsonl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"exported {len(flows)} records" in done.stderr
    threading.Event().wait(1.0)
    proc.send_signal(signal.SIGTERM)  # nfcapd writes its file when it stops
    proc.wait(timeout=30)
    rows = _nfdump(store)
    assert len(rows) == len(flows)
    proto = {"TCP": 6, "UDP": 17, "ICMP": 1}
    got = {
        (r["sa"].strip(), int(float(r["sp"])), r["da"].strip(), proto[r["pr"].strip()]):
        (int(r["ipkt"]), int(r["ibyt"]), int(r["opkt"]), int(r["obyt"]))
        for r in rows
    }  # fmt: skip
    expected = {
        (f["orig_addr"], 0 if f["proto"] == 1 else f["orig_port"], f["resp_addr"], f["proto"]):
        (f["orig_pkts"], f["orig_ip_bytes"], f["resp_pkts"], f["resp_ip_bytes"])
        for f in flows
    }  # fmt: skip
    assert got == expected
    ports = {(r["sa"].strip(), r["da"].strip()): r["dp"].strip() for r in rows}
    tcp = next(f for f in flows if f["proto"] == 6 and f["ip_version"] == 4)
    assert int(float(ports[(tcp["orig_addr"], tcp["resp_addr"])])) == tcp["resp_port"]


def test_tools_present() -> None:
    for tool in ("softflowd", "nfcapd", "nfdump"):
        assert shutil.which(tool), f"{tool} is installed by make test (system-packages)"
