"""Speed and memory of all detectors together on synthetic GatedRecords (no capture, no gate).

    python bench/detect_speed.py [--flows N] [--rate R] [--repeat K] [--memory 1,2,4,8] [--memory-rate R]

Speed: ``--flows`` (default 1,000,000) gated records from gated_synth.py at ``--rate`` flows a
second of flow time are built first, then fed to one DetectorChain with every detector on
(and a partner feed of 1,000 addresses and 20 prefixes) in batches of 65,536, and finished;
the best of ``--repeat`` runs after a warm-up, on one core (numpy and Arrow stay
single-threaded here). Target: at least 1,000,000 flows/s.

``--gated FILE`` times a gated Parquet file instead (the benign capture of
make_scenarios.py, collected and gated: bench/out/detect/benign.gated.parquet).

Memory: for each length in ``--memory`` (millions of flows, same ``--memory-rate``, so a
longer input is a longer stretch of flow time), a fresh process generates the batches one by
one, feeds them and reports its peak RSS (VmHWM) and the most rows each detector ever held.
State is bounded by the windows when these stop growing once the input is longer than the
longest window (the slow scan tier: two 6-hour windows plus the lateness).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TARGET = 1_000_000


def _single_thread() -> None:
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _feed() -> Any:
    """A partner feed: 1,000 addresses and 20 prefixes of the synthetic outside space, a few of them seen."""
    import numpy as np

    from detectors import IndicatorSet
    from policies import format_ipv4

    rng = np.random.default_rng(5)
    hosts = format_ipv4(((45 << 24) + rng.integers(0, 1 << 24, 1000)).astype(np.uint32)).to_pylist()
    nets = [
        f"{a}/24" for a in format_ipv4(((23 << 24) + (rng.integers(0, 1 << 16, 20) << 8)).astype(np.uint32)).to_pylist()
    ]
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
            "created": "2025-01-01T00:00:00.000Z",
            "modified": "2025-01-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '{value}']",
            "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
        }
        for i, value in enumerate(hosts + nets)
    ]
    return IndicatorSet.from_objects(objects)


def _gated_file(path: Path) -> list[Any]:
    """A gated Parquet file (``metagate collect --policy``) in batches of 65,536 rows."""
    import pyarrow.parquet as pq

    whole = pq.read_table(path)
    return [whole.slice(i, 65_536) for i in range(0, whole.num_rows, 65_536)]


def speed(
    flows: int, rate: float, repeat: int, gated: Path | None = None, feed_path: Path | None = None
) -> dict[str, Any]:
    from gated_synth import batches

    from detectors import DetectorChain, load_indicators

    _single_thread()
    feed = load_indicators(feed_path) if feed_path is not None else _feed()
    began = time.perf_counter()
    tables = _gated_file(gated) if gated is not None else list(batches(flows, rate=rate, seed=1))
    flows = sum(t.num_rows for t in tables)
    built = time.perf_counter() - began
    warm = DetectorChain(indicators=feed)
    warm.feed(tables[0].slice(0, 20_000))
    warm.finish()
    best, findings = float("inf"), 0
    for _ in range(repeat):
        chain = DetectorChain(indicators=feed)
        began = time.perf_counter()
        for table in tables:
            chain.feed(table)
        findings = len(chain.finish())
        best = min(best, time.perf_counter() - began)
    return {"flows": flows, "rate": rate, "seconds": best, "flows_per_s": flows / best, "findings": findings,
            "build_s": built}  # fmt: skip


def _vm_hwm_mib() -> float:
    """This process's peak resident set (a fresh exec starts its own count, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(flows: int, rate: float) -> None:
    from gated_synth import batches

    from detectors import DetectorChain

    _single_thread()
    chain = DetectorChain(indicators=_feed())
    began = time.perf_counter()
    for table in batches(flows, rate=rate, seed=2):
        chain.feed(table)
    peaks = {kind: max(v for k, v in s.items() if k.endswith("peak")) for kind, s in chain.stats().items()}
    findings = len(chain.finish())
    print(json.dumps({"flows": flows, "hours": flows / rate / 3600, "peak_rss_mib": _vm_hwm_mib(), "peaks": peaks,
                      "findings": findings, "seconds": time.perf_counter() - began}))  # fmt: skip


def memory(lengths: list[float], rate: float) -> list[dict[str, Any]]:
    out = []
    for millions in lengths:
        command = [sys.executable, __file__, "--child", str(int(millions * 1_000_000)), "--memory-rate", str(rate)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            sys.exit(done.stderr)
        out.append(json.loads(done.stdout.splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1_000_000, help="flows for the speed run (default 1,000,000)")
    parser.add_argument("--rate", type=float, default=300.0, help="flows per second of flow time (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs; the best counts (default 3)")
    parser.add_argument("--memory", default="1,2,4,8", help="input lengths in millions of flows (default 1,2,4,8)")
    parser.add_argument("--memory-rate", type=float, default=50.0, help="flows per second for the memory runs")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--gated", type=Path, help="time a gated Parquet file instead (e.g. out/detect/benign.gated.parquet)"
    )
    parser.add_argument("--indicators", type=Path, help="the partner feed for --gated (default: a synthetic one)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        memory_child(args.child, args.memory_rate)
        return 0
    result = speed(args.flows, args.rate, args.repeat, args.gated, args.indicators)
    met = result["flows_per_s"] >= TARGET
    source = str(args.gated) if args.gated else "synthetic"
    print(f"all detectors, one core, {source}: {result['flows']:,} gated flows in {result['seconds']:.2f} s = "
          f"{result['flows_per_s']:,.0f} flows/s ({result['flows_per_s'] / TARGET:.2f}x the 1M/s target: "
          f"{'ok' if met else 'BELOW TARGET'}); {result['findings']} findings")  # fmt: skip
    if not args.skip_memory:
        lengths = [float(x) for x in args.memory.split(",")]
        rows = memory(lengths, args.memory_rate)
        kinds = list(rows[0]["peaks"])
        print(f"memory at {args.memory_rate:g} flows/s; peak rows held per detector, peak RSS of the process:")
        print(f"{'flows':>10}{'hours':>7}{'RSS MiB':>9}  " + "".join(f"{k[:12]:>13}" for k in kinds))
        for row in rows:
            print(f"{row['flows']:>10,}{row['hours']:>7.1f}{row['peak_rss_mib']:>9.0f}  "
                  + "".join(f"{row['peaks'][k]:>13,}" for k in kinds))  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
