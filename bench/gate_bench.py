"""Gate benchmark: the legal gate's throughput and what gating costs a collect run.

One run, on one core, one measurement after another (the machine's two cores are shared and
noisy: the ratios are the result):

- the gate alone on 1M synthetic flow records (in batches of 65,536, as the collector hands
  them over): 50k subscribers (each with about 20 flows in the hour the records span; the
  target row) and 200k (about 5 each: nearly every address new to its batch, the costly
  extreme), 5k servers, a fifth IPv6, each run by a new gate (its memos empty: every
  pseudonym is made again), wall and CPU time (``time.process_time``: the cores are shared), under
  ``bench/policy/site.yaml`` (jp-acd, every flow approved, the domestic side pseudonymized
  with Crypto-PAn, flow ids re-keyed): best of 3, target at least 1M records/s;
- ``metagate collect WORKLOAD -o /dev/null`` without and with ``--policy`` as whole processes,
  on the collector benchmark's 1M-packet capture: target with/without at most 1.3x;
- the same in-process, engine only against engine plus gate, warmed, best of 3.

    python bench/gate_bench.py [--workload PATH] [--records N] [--repeat N]
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

BENCH = Path(__file__).resolve().parent
POLICY = BENCH / "policy" / "site.yaml"
TARGET_RECORDS_PER_S = 1_000_000
TARGET_POLICY_COST = 1.3
BATCH = 65_536


def synthetic_flows(n: int, seed: int = 11, subscribers: int = 200_000) -> pa.Table:
    """FlowRecords shaped like a carrier's: many subscribers, fewer servers, a fifth IPv6."""
    from collectors import FLOW_SCHEMA

    rng = np.random.default_rng(seed)
    v6 = rng.random(n) < 0.2
    clients = rng.integers(0, subscribers, n)
    servers = rng.integers(0, 5_000, n)
    c4 = [f"10.{(c >> 16) & 255}.{(c >> 8) & 255}.{c & 255}" for c in clients.tolist()]
    s4 = [f"198.{18 + ((s >> 16) & 1)}.{(s >> 8) & 255}.{s & 255}" for s in servers.tolist()]
    c6 = [f"2001:db8:0:1::{c >> 16:x}:{c & 0xFFFF:x}" for c in clients.tolist()]
    s6 = [f"2001:db8:5::{s:x}" for s in servers.tolist()]
    orig = np.where(v6, c6, c4)
    resp = np.where(v6, s6, s4)
    ids = ["1:" + base64.b64encode(rng.bytes(20)).decode() for _ in range(n)]
    start = 1_699_999_000_000_000 + np.sort(rng.integers(0, 3_600_000_000, n))
    columns = {
        "flow_id": ids,
        "start": start,
        "end": start + rng.integers(0, 60_000_000, n),
        "ip_version": np.where(v6, 6, 4),
        "proto": rng.choice([6, 17, 1], n, p=[0.6, 0.3, 0.1]),
        "orig_addr": orig,
        "orig_port": rng.integers(1024, 65535, n),
        "resp_addr": resp,
        "resp_port": rng.choice([443, 80, 53, 123], n),
        "orig_pkts": rng.integers(1, 50, n),
        "resp_pkts": rng.integers(0, 50, n),
        "orig_ip_bytes": rng.integers(40, 50_000, n),
        "resp_ip_bytes": rng.integers(0, 500_000, n),
        "orig_tcp_flags": np.full(n, 0x1B),
        "resp_tcp_flags": np.full(n, 0x1B),
        "history": ["ShADadFf"] * n,
        "conn_state": ["SF"] * n,
        "vlan": [None] * n,
        "inner_vlan": [None] * n,
        "mpls": [[]] * n,
        "tunnel": [None] * n,
        "tunnel_parents": [[]] * n,
        "end_reason": ["tcp_end"] * n,
        "tap_id": ["bench"] * n,
        "dns_qname": [None] * n,
        "tls_sni": [None] * n,
        "http_host": [None] * n,
    }
    arrays = [pa.array(columns[f.name], f.type) for f in FLOW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=FLOW_SCHEMA)


def time_gate(records: pa.Table, repeat: int) -> tuple[float, float, int]:
    """Best wall and best CPU seconds (this process, one thread) of a fresh gate over every batch."""
    from filters import Gate
    from policies import load_policy

    policy = load_policy(POLICY)
    batches = [records.slice(i, BATCH) for i in range(0, records.num_rows, BATCH)]
    Gate(policy)(batches[0])  # warm: first calls; this gate's memos are not reused
    best, best_cpu, passed = float("inf"), float("inf"), 0
    for _ in range(repeat):
        gate = Gate(policy)  # a new gate each run: its memos start empty, every pseudonym is made again
        began, began_cpu = time.perf_counter(), time.process_time()
        passed = sum(gate(batch).num_rows for batch in batches)
        best = min(best, time.perf_counter() - began)
        best_cpu = min(best_cpu, time.process_time() - began_cpu)
    return best, best_cpu, passed


def time_engine(workload: Path, repeat: int, with_gate: bool) -> float:
    from collectors import FileSource, make_engine
    from filters import Gate
    from policies import load_policy

    batches = list(FileSource(workload).batches(65_536))
    policy = load_policy(POLICY)
    best = float("inf")
    for run in range(repeat + 1):
        engine = make_engine("fast")
        gate = Gate(policy) if with_gate else None
        began = time.perf_counter()
        for batch in batches:
            table = engine.feed(batch)
            if gate is not None and table.num_rows:
                gate(table)
        table = engine.finish()
        if gate is not None:
            gate(table)
        if run:  # the first run warms the compiled kernels
            best = min(best, time.perf_counter() - began)
    return best


def time_process(workload: Path, policy: bool, repeat: int, ledger_dir: Path) -> float:
    args = [sys.executable, "-m", "metagate", "collect", str(workload), "-o", "/dev/null", "--format", "jsonl"]
    if policy:
        args += ["--policy", str(POLICY)]
    env = {**os.environ, "METAGATE_LEDGER": str(ledger_dir / "ledger.sqlite")}
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", type=Path, default=BENCH / "out" / "workload.pcap")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.workload.exists():
        subprocess.run([sys.executable, str(BENCH / "make_workload.py"), "--out", str(args.workload)], check=True)

    rows = []
    rates, cpu_rates = {}, {}
    for subscribers in (50_000, 200_000):
        records = synthetic_flows(args.records, subscribers=subscribers)
        seconds, cpu_seconds, passed = time_gate(records, args.repeat)
        rates[subscribers] = args.records / seconds
        cpu_rates[subscribers] = args.records / cpu_seconds
        rows.append((f"gate alone, {subscribers // 1000}k subscribers", args.records, seconds,
                     f"{rates[subscribers] / 1e6:.2f}M records/s",
                     f"{cpu_rates[subscribers] / 1e6:.2f}M records/CPU-s, {passed:,} passed"))  # fmt: skip
    rate, cpu_rate = rates[50_000], cpu_rates[50_000]

    engine_only = time_engine(args.workload, args.repeat, with_gate=False)
    engine_gate = time_engine(args.workload, args.repeat, with_gate=True)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp)
        env = {**os.environ, "METAGATE_LEDGER": str(ledger / "ledger.sqlite")}
        subprocess.run([sys.executable, "-m", "metagate", "audit", "init"], check=True, capture_output=True, env=env)
        plain = time_process(args.workload, False, args.repeat, ledger)
        gated = time_process(args.workload, True, args.repeat, ledger)
    rows += [
        ("fast engine, in-process", 0, engine_only, "", "warm, best of repeats"),
        ("fast engine + gate, in-process", 0, engine_gate, "", ""),
        ("metagate collect (whole process)", 0, plain, "", "jsonl to /dev/null"),
        ("metagate collect --policy (whole process)", 0, gated, "", "gated jsonl to /dev/null, ledger entry"),
    ]
    print(f"\n{'measurement':<44}{'records':>10}{'seconds':>9}  {'rate':<18}note")
    for name, n, secs, text, note in rows:
        print(f"{name:<44}{n or '':>10}{secs:>9.3f}  {text:<18}{note}")
    print(f"\n{'ratio':<46}{'value':>8}  {'target':<16}verdict")
    checks = [
        ("gate (50k subscribers) / 1M records/s", rate / TARGET_RECORDS_PER_S, ">= 1.0x",
         rate >= TARGET_RECORDS_PER_S),
        ("gate (50k subscribers) / 1M records/CPU-s", cpu_rate / TARGET_RECORDS_PER_S, ">= 1.0x",
         cpu_rate >= TARGET_RECORDS_PER_S),
        ("gate (200k subscribers) / 1M records/s", rates[200_000] / TARGET_RECORDS_PER_S, "(for reference)", True),
        ("gate (200k subscribers) / 1M records/CPU-s", cpu_rates[200_000] / TARGET_RECORDS_PER_S, "(for reference)",
         True),
        ("collect --policy / collect (process)", gated / plain, f"<= {TARGET_POLICY_COST}x",
         gated / plain <= TARGET_POLICY_COST),
        ("engine + gate / engine (in-process)", engine_gate / engine_only, "(for reference)", True),
    ]  # fmt: skip
    for name, value, target, ok in checks:
        print(f"{name:<46}{value:>7.2f}x  {target:<16}{'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
