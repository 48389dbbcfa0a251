"""Collector benchmark: the fast engine against its targets and against the tools people already use.

One run, one reference capture (bench/make_workload.py), every tool on the same file, one after another
(the benchmark machine has two shared, noisy cores: running peers side by side would measure the
neighbours). Absolute packets/s move from run to run; the ratios are the result.

Measured:
- ``metagate collect FILE -o /dev/null --format jsonl --engine fast`` as a whole process, best of N: wall
  time with start-up, CPU time (the file is walked ahead and records written behind on threads, so it
  can exceed the wall time), and peak RSS (GNU time);
- the fast engine in-process, warmed (numba code loaded), feeding every batch plus ``finish()``: best of N,
  in alternation with the whole-process runs so that both meet the same neighbours;
- the same engine with ``FlowConfig(max_flows=10_000)`` against the default, each in its own process,
  to see the flow table bounded in memory;
- the scapy engine on a slice (first 20k packets), whose flows must equal the fast engine's on that slice;
- nfstream 6.6 (one meter, no nDPI, no statistics), ``tcpdump -r FILE -w /dev/null`` (the read limit:
  copying records without decoding) and ``tshark -q -z conv,tcp``.

    python bench/collect_bench.py [--packets N | --workload PATH] [--skip-peers] [--skip-engines]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# As the metagate command does (metagate/__init__.py): no spinning OpenBLAS threads beside
# the engine measured in this process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PROJECT_PACKAGES = ("collectors", "detectors", "exchange", "filters", "metagate", "policies")
OUT_DIR = BENCH_DIR / "out"
PEERS_PYTHON = OUT_DIR / "peers" / "bin" / "python"
GIB = 1 << 30
TARGET_PPS = 3_000_000
TARGET_VS_TCPDUMP = 1.0
TARGET_VS_NFSTREAM = 20.0
TARGET_WHOLE_VS_STEADY = 2.0
BOUNDED_MAX_FLOWS = 10_000
GNU_TIME = "/usr/bin/time"
BOUNDED_TOLERANCE = 1.02  # the bounded run may not need *less* memory, but never more beyond noise
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}


class NotAvailable(Exception):
    """A tool or API this measurement needs is missing: the run reports it and goes on."""


@dataclass
class Result:
    """One measurement: what ran, on how many packets, how long it took, how much memory it peaked at."""

    name: str
    packets: int = 0
    seconds: float = 0.0
    peak_rss: int | None = None  # bytes
    flows: int | None = None
    note: str = ""
    available: bool = True

    @property
    def pps(self) -> float:
        return self.packets / self.seconds if self.available and self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- files


def pcap_records(path: Path, limit: int | None = None) -> tuple[int, int]:
    """(records, end offset of the last one) of a classic pcap, reading only record headers."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        order = PCAP_MAGICS.get(data[:4])
        if order is None:
            raise NotAvailable(f"{path} is not a classic pcap file (pcapng is not supported here)")
        caplen = struct.Struct(order + "I")
        size, count, offset = len(data), 0, 24
        while offset + 16 <= size and (limit is None or count < limit):
            offset += 16 + caplen.unpack_from(data, offset + 8)[0]
            count += 1
    return count, min(offset, size)


def write_slice(workload: Path, packets: int) -> tuple[Path, int]:
    """Copy the first ``packets`` records (header included) to bench/out: the slice the scapy engine reads."""
    count, end = pcap_records(workload, packets)
    target = OUT_DIR / f"slice-{count}.pcap"
    with workload.open("rb") as src, target.open("wb") as dst:
        dst.write(src.read(end))
    return target, count


def byte_compile() -> None:
    """metagate's modules byte-compiled, as pip leaves an installed package.

    An editable install leaves them as source; where PYTHONDONTWRITEBYTECODE is set, each
    whole-process run would otherwise compile them again (about 50 ms).
    """
    import compileall

    for name in PROJECT_PACKAGES:
        compileall.compile_dir(ROOT / name, quiet=1)


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first tool measured does not pay for the disk and the later ones do not."""
    with path.open("rb") as fh:
        while fh.read(16 << 20):
            pass


def ensure_workload(args: argparse.Namespace) -> Path:
    """The capture to measure: --workload as given, else bench/out/workload.pcap generated for --packets."""
    if args.workload:
        return Path(args.workload)
    target = OUT_DIR / "workload.pcap"
    cmd = [sys.executable, str(BENCH_DIR / "make_workload.py"), "--out", str(target), "--packets", str(args.packets)]
    print("generating:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    return target


# --------------------------------------------------------------------------- processes


@dataclass
class Finished:
    """A child process run to its end: wall seconds, its own peak RSS in bytes, exit code and output."""

    seconds: float
    peak_rss: int | None
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float | None = None  # user + system, from GNU time


def run_measured(cmd: list[str]) -> Finished:
    """Run ``cmd`` alone; its peak RSS comes from GNU time (``/usr/bin/time -f %M``).

    Python's own view is wrong here: ``getrusage(RUSAGE_CHILDREN)`` keeps the largest child reaped so
    far, and even ``os.wait4`` on this very child reports at least the *parent's* high-water mark,
    because Linux carries ``ru_maxrss`` across the vfork + exec that ``subprocess`` uses (a 6 MiB tcpdump
    read as 570 MiB after this script had mapped the workload). GNU time forks from a 2 MiB process.
    """
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():
        raise NotAvailable(f"{cmd[0]} not found")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as rss:
        wrapped = [GNU_TIME, "-f", "%U %S %M", "-o", rss.name, *cmd] if Path(GNU_TIME).exists() else cmd
        began = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL, check=False)
        seconds = time.perf_counter() - began
        kib, cpu = _gnu_time(Path(rss.name)) if wrapped is not cmd else (None, None)
        out.seek(0)
        err.seek(0)
        return Finished(seconds, kib * 1024 if kib else None, proc.returncode, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"), cpu)


def _gnu_time(path: Path) -> tuple[int | None, float | None]:
    """Peak KiB and CPU seconds from GNU time's last line (after any "Command exited with ..." line)."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    fields = lines[-1].split() if lines else []
    if len(fields) != 3 or not fields[2].isdigit():
        return None, None
    return int(fields[2]), float(fields[0]) + float(fields[1])


def child_json(cmd: list[str]) -> tuple[Finished, dict[str, Any]]:
    """Run one of this script's child modes; it prints one JSON line as its last output."""
    done = run_measured(cmd)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise NotAvailable(_last_line(done.stderr) or f"exit code {done.returncode}")
    return done, json.loads(lines[-1])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def self_cmd(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


# --------------------------------------------------------------------------- the engines (collectors API)


class Sources:
    """Keeps every opened source open until the run ends: batches are views into their buffers."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()

    def batches(self, path: Path) -> list[Any]:
        """All batches of a file, materialised, so timing covers the engine and not the reading."""
        from collectors import open_source

        source = open_source(str(path))
        if hasattr(source, "__enter__"):
            source = self.stack.enter_context(source)
        produce = getattr(source, "batches", None)
        return list(produce() if callable(produce) else source)


def collectors_api() -> None:
    """Fail early, with the reason, when the collectors API the benchmark drives is not there yet."""
    try:
        from collectors import FlowConfig, make_engine, open_source  # noqa: F401
    except ImportError as exc:
        raise NotAvailable(f"collectors API: {exc}") from exc


def new_engine(name: str, max_flows: int | None = None) -> Any:
    """``make_engine(name, config)``, with the default FlowConfig unless a table bound is asked for."""
    from collectors import FlowConfig, make_engine

    config = FlowConfig(max_flows=max_flows) if max_flows else FlowConfig()
    try:
        return make_engine(name, config=config)
    except TypeError:
        return make_engine(name, config)


def run_engine(engine: Any, batches: Iterable[Any]) -> Any:
    """Feed every batch and finish; returns all flow records as one Arrow table."""
    import pyarrow as pa

    tables = [engine.feed(batch) for batch in batches]
    tables.append(engine.finish())
    return pa.concat_tables(tables)


def best_of(repeat: int, once: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` runs (the one least disturbed by the neighbours) and its result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        value = once()
        seconds = time.perf_counter() - began
        if seconds < best:
            best, result = seconds, value
    return best, result


def measure_whole_and_steady(metagate: str, sources: Sources, workload: Path, slice_path: Path,
                             repeat: int) -> tuple[Result, Result]:
    """The whole process against the engine's steady state, run in alternation, best of ``repeat`` each.

    Whole process: ``metagate collect`` start to end (interpreter, imports, compiled-code
    loading, reading, writing), with the best run's CPU time (the file is walked ahead and
    the records written behind on threads, so CPU time can exceed wall time). Steady state:
    the fast engine warmed on the slice, fed the workload's batches already read. One of each
    per round, so that the two see the same neighbours on a shared machine.
    """
    collectors_api()
    run_engine(new_engine("fast"), sources.batches(slice_path))  # loads the compiled code
    began = time.perf_counter()
    batches = sources.batches(workload)
    read_s = time.perf_counter() - began
    packets = sum(len(batch) for batch in batches)
    cmd = [metagate, "collect", str(workload), "-o", "/dev/null", "--format", "jsonl", "--engine", "fast"]
    best: Finished | None = None
    steady, table = float("inf"), None
    for _ in range(repeat):
        done = run_measured(cmd)
        if done.returncode != 0:
            raise NotAvailable(f"metagate collect exited {done.returncode}: {_last_line(done.stderr)}")
        best = done if best is None or done.seconds < best.seconds else best
        seconds, flows = best_of(1, lambda: run_engine(new_engine("fast"), batches))
        if seconds < steady:
            steady, table = seconds, flows
    assert best is not None and table is not None
    cpu = f", CPU {best.cpu_seconds:.2f} s" if best.cpu_seconds is not None else ""
    whole = Result(f"metagate collect --engine fast (whole process, best of {repeat})", packets, best.seconds,
                   best.peak_rss, note=f"jsonl to /dev/null{cpu}")
    engine = Result(f"fast engine, steady state (best of {repeat})", packets, steady, flows=table.num_rows,
                    note=f"{len(batches)} batches; reading them took {read_s:.2f} s, not counted")
    return whole, engine


def measure_bounded(workload: Path) -> tuple[Result, Result]:
    """The fast engine with the default table and with max_flows=10k, each alone in a fresh process."""
    results = []
    for max_flows in (0, BOUNDED_MAX_FLOWS):
        done, info = child_json(self_cmd("--child", "engine", "--max-flows", str(max_flows), str(workload)))
        label = f"max_flows={max_flows:,}" if max_flows else "default max_flows"
        memory = info.get("memory", {})
        split = f"; at end anon {memory['RssAnon'] >> 10} MiB, file {memory['RssFile'] >> 10} MiB" if memory else ""
        results.append(Result(f"fast engine, own process, {label}", info["packets"], info["seconds"],
                              done.peak_rss, info["flows"], note=_reasons(info["end_reasons"]) + split))
    return results[0], results[1]


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))


def measure_slice(sources: Sources, slice_path: Path) -> tuple[Result, str]:
    """The scapy engine on the slice, and whether its flows equal the fast engine's there."""
    collectors_api()
    batches = sources.batches(slice_path)
    packets = sum(len(batch) for batch in batches)
    began = time.perf_counter()
    scapy_flows = run_engine(new_engine("scapy"), batches)
    seconds = time.perf_counter() - began
    verdict = compare_flows(run_engine(new_engine("fast"), batches), scapy_flows)
    return Result("scapy engine (slice)", packets, seconds, flows=scapy_flows.num_rows), verdict


def compare_flows(fast: Any, oracle: Any) -> str:
    """MATCH, or MISMATCH with the first difference, comparing every column after sorting both tables."""
    keys = [(name, "ascending") for name in ("flow_id", "start", "end", "tunnel") if name in fast.column_names]
    fast, oracle = fast.sort_by(keys), oracle.sort_by(keys)
    if fast.num_rows != oracle.num_rows:
        return f"MISMATCH: fast {fast.num_rows:,} flows, scapy {oracle.num_rows:,}"
    if fast.column_names != oracle.column_names:
        return f"MISMATCH: columns differ: {fast.column_names} vs {oracle.column_names}"
    for name in fast.column_names:
        ours, theirs = fast.column(name).to_pylist(), oracle.column(name).to_pylist()
        for row, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b:
                flow_id = fast.column("flow_id")[row].as_py()
                return f"MISMATCH: row {row} (flow_id {flow_id}) column {name}: fast {a!r}, scapy {b!r}"
    return f"MATCH ({fast.num_rows:,} flows, all {len(fast.column_names)} columns)"


# --------------------------------------------------------------------------- peers


def measure_nfstream(workload: Path, packets: int) -> Result:
    """nfstream 6.6 in its own process, one meter (one core), nDPI and statistics off."""
    # nfstream lives in a venv of its own (make bench): its pandas, installed beside metagate, would be
    # imported by pyarrow in every metagate process and tax the whole-process rows
    python = PEERS_PYTHON if PEERS_PYTHON.exists() else Path(sys.executable)
    done, info = child_json([str(python), str(Path(__file__).resolve()), "--child", "nfstream", str(workload)])
    return Result("nfstream 6.6 (1 meter, no dissection)", packets, info["seconds"], done.peak_rss, info["flows"],
                  note=f"timed inside the child, imports excluded; {info['packets']:,} packets in its flows")


def measure_tcpdump(workload: Path, packets: int, repeat: int) -> Result:
    """``tcpdump -r FILE -w /dev/null``: reading and copying records, no decoding; the read limit."""
    runs = [run_measured(["tcpdump", "-r", str(workload), "-w", "/dev/null"]) for _ in range(repeat)]
    best = min(runs, key=lambda done: done.seconds)
    if best.returncode != 0:
        raise NotAvailable(f"tcpdump exited {best.returncode}: {_last_line(best.stderr)}")
    return Result(f"tcpdump -r -w /dev/null (best of {repeat})", packets, best.seconds, best.peak_rss)


def measure_tshark(workload: Path, packets: int) -> Result:
    """``tshark -q -r FILE -z conv,tcp``: full dissection plus a conversation table; start-up included."""
    done = run_measured(["tshark", "-q", "-r", str(workload), "-z", "conv,tcp"])
    if done.returncode != 0:
        raise NotAvailable(f"tshark exited {done.returncode}: {_last_line(done.stderr)}")
    conversations = sum(1 for line in done.stdout.splitlines() if "<->" in line)
    return Result("tshark -q -z conv,tcp", packets, done.seconds, done.peak_rss, conversations,
                  note="flows = TCP conversations")


# --------------------------------------------------------------------------- child modes


def child_nfstream(path: Path) -> dict[str, Any]:
    from nfstream import NFStreamer

    began = time.perf_counter()
    streamer = NFStreamer(source=str(path), n_dissections=0, statistical_analysis=False, splt_analysis=0,
                          n_meters=1)
    flows = packets = 0
    for flow in streamer:
        flows += 1
        packets += flow.bidirectional_packets
    return {"flows": flows, "packets": packets, "seconds": time.perf_counter() - began}


def child_engine(path: Path, max_flows: int) -> dict[str, Any]:
    """The fast engine on the whole file in a fresh process (warmed on nothing: the RSS is what counts)."""
    import pyarrow.compute as pc

    collectors_api()
    began = time.perf_counter()
    batches = Sources().batches(path)
    engine = new_engine("fast", max_flows or None)
    table = run_engine(engine, batches)
    counts = pc.value_counts(table.column("end_reason")).to_pylist() if table.num_rows else []
    return {
        "flows": table.num_rows,
        "packets": sum(len(batch) for batch in batches),
        "seconds": time.perf_counter() - began,
        "end_reasons": {item["values"]: item["counts"] for item in counts},
        "memory": _proc_memory(),
    }


def _proc_memory() -> dict[str, int]:
    """Peak and current RSS split by kind (kB): a memory-mapped capture counts in RSS as file pages."""
    wanted = ("VmHWM", "RssAnon", "RssFile")
    with contextlib.suppress(OSError):
        lines = Path("/proc/self/status").read_text().splitlines()
        fields = (line.split() for line in lines)
        return {parts[0].rstrip(":"): int(parts[1]) for parts in fields if parts and parts[0].rstrip(":") in wanted}
    return {}


def run_child(args: argparse.Namespace) -> int:
    path = Path(args.workload_arg)
    info = child_nfstream(path) if args.child == "nfstream" else child_engine(path, args.max_flows)
    print(json.dumps(info))
    return 0


# --------------------------------------------------------------------------- report


def attempt(results: list[Result], name: str, measure: Callable[[], Result | tuple[Result, ...]]) -> None:
    """Run one measurement; a missing tool or API becomes a "not available" row, never the end of the run."""
    print(f"  {name} ...", flush=True)
    try:
        value = measure()
    except (NotAvailable, ImportError, FileNotFoundError, subprocess.SubprocessError) as exc:
        results.append(Result(name, available=False, note=f"not available: {exc}"))
        return
    results.extend(value if isinstance(value, tuple) else (value,))


def fmt_rate(pps: float) -> str:
    if pps >= 1e6:
        return f"{pps / 1e6:.2f}M"
    return f"{pps / 1e3:.1f}k" if pps else "-"


def fmt_mib(value: int | None) -> str:
    return f"{value / (1 << 20):,.0f} MiB" if value else "-"


def results_table(results: list[Result]) -> str:
    rows = [f"{'measurement':<48} {'packets':>10} {'seconds':>8} {'packets/s':>10} {'peak RSS':>10} {'flows':>8}  note"]
    for r in results:
        if not r.available:
            rows.append(f"{r.name:<48} {'':>10} {'':>8} {'-':>10} {'-':>10} {'':>8}  {r.note}")
            continue
        flows = f"{r.flows:,}" if r.flows is not None else "-"
        rows.append(f"{r.name:<48} {r.packets:>10,} {r.seconds:>8.2f} {fmt_rate(r.pps):>10} "
                    f"{fmt_mib(r.peak_rss):>10} {flows:>8}  {r.note}")
    return "\n".join(rows)


def _find(results: list[Result], prefix: str) -> Result | None:
    return next((r for r in results if r.name.startswith(prefix) and r.available), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def ratio_rows(results: list[Result], verdict: str | None) -> list[tuple[str, float | None, str, bool | None]]:
    """(what, value, target, met) for every ratio the benchmark promises; None where a side is missing."""
    steady = _find(results, "fast engine, steady")
    whole = _find(results, "metagate collect")
    fast = steady.pps if steady else None
    peers = {key: _find(results, key) for key in ("tcpdump", "nfstream", "tshark")}
    rate = {key: (r.pps if r else None) for key, r in peers.items()}
    default = _find(results, "fast engine, own process, default")
    bounded = _find(results, "fast engine, own process, max")
    rows: list[tuple[str, float | None, str, bool | None]] = [
        ("fast / 3M packets/s target", _ratio(fast, TARGET_PPS), ">= 1.0x", None),
        ("fast / tcpdump copy", _ratio(fast, rate["tcpdump"]), f">= {TARGET_VS_TCPDUMP:.1f}x", None),
        ("fast / nfstream", _ratio(fast, rate["nfstream"]), f">= {TARGET_VS_NFSTREAM:.0f}x", None),
        ("fast / tshark", _ratio(fast, rate["tshark"]), "(for reference)", None),
        ("whole process / steady state (time)", _ratio(whole.seconds if whole else None,
                                                       steady.seconds if steady else None),
         f"<= {TARGET_WHOLE_VS_STEADY:.1f}x", None),
        ("peak RSS (whole process) / 1 GiB", _ratio(whole.peak_rss if whole else None, GIB), "< 1.0x", None),
        ("peak RSS max_flows=10k / default", _ratio(bounded.peak_rss if bounded else None,
                                                    default.peak_rss if default else None),
         f"<= {BOUNDED_TOLERANCE:.2f}x (noise)", None),
    ]
    limits = [1.0, TARGET_VS_TCPDUMP, TARGET_VS_NFSTREAM, None, TARGET_WHOLE_VS_STEADY, 1.0, BOUNDED_TOLERANCE]
    upper = [False, False, False, False, True, True, True]
    judged = [(name, value, target, _met(value, limit, is_upper))
              for (name, value, target, _), limit, is_upper in zip(rows, limits, upper, strict=True)]
    if default and bounded:
        diff = (default.peak_rss or 0) - (bounded.peak_rss or 0)
        judged.append((f"  peak RSS saved by max_flows=10k: {diff / (1 << 20):+,.0f} MiB", None, "", None))
    judged.append((f"fast vs scapy flows on the slice: {verdict or 'not measured'}", None, "",
                   None if verdict is None else verdict.startswith("MATCH")))
    return judged


def _met(value: float | None, limit: float | None, is_upper: bool) -> bool | None:
    if value is None or limit is None:
        return None
    return value <= limit if is_upper else value >= limit


def ratios_table(rows: list[tuple[str, float | None, str, bool | None]]) -> str:
    lines = [f"{'ratio':<48} {'value':>8}  {'target':<16} verdict"]
    for name, value, target, met in rows:
        shown = f"{value:.2f}x" if value is not None else ("-" if target else "")
        verdict = {True: "ok", False: "MISSED", None: "" if not target or value is not None else "n/a"}[met]
        lines.append(f"{name:<48} {shown:>8}  {target:<16} {verdict}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="packets in a generated workload")
    parser.add_argument("--workload", help="reuse this pcap instead of generating bench/out/workload.pcap")
    parser.add_argument("--slice", type=int, default=20_000, help="packets in the scapy slice (default 20,000)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds of the whole-process and steady-state timings, runs of tcpdump")
    parser.add_argument("--skip-peers", action="store_true", help="measure only metagate (no nfstream/tcpdump/tshark)")
    parser.add_argument("--skip-engines", action="store_true", help="measure only the peers")
    parser.add_argument("--metagate", default=str(Path(sys.executable).with_name("metagate")),
                        help="the metagate command (default: the one beside this Python)")
    parser.add_argument("--child", choices=("nfstream", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--max-flows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("workload_arg", nargs="?", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def measure_engines(args: argparse.Namespace, workload: Path, slice_path: Path) -> tuple[list[Result], str | None]:
    results: list[Result] = []
    verdict: list[str] = []
    sources = Sources()

    def slice_run() -> Result:
        result, text = measure_slice(sources, slice_path)
        verdict.append(text)
        return result

    with sources.stack:
        attempt(results, "metagate collect --engine fast (whole process) and the engine's steady state",
                lambda: measure_whole_and_steady(args.metagate, sources, workload, slice_path, args.repeat))
        attempt(results, "fast engine, own process (max_flows)", lambda: measure_bounded(workload))
        attempt(results, "scapy engine (slice)", slice_run)
    return results, (verdict[0] if verdict else None)


def measure_peers(args: argparse.Namespace, workload: Path, packets: int) -> list[Result]:
    results: list[Result] = []
    attempt(results, "nfstream 6.6", lambda: measure_nfstream(workload, packets))
    attempt(results, "tcpdump -r -w /dev/null", lambda: measure_tcpdump(workload, packets, args.repeat))
    attempt(results, "tshark -q -z conv,tcp", lambda: measure_tshark(workload, packets))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    workload = ensure_workload(args)
    packets, _ = pcap_records(workload)
    slice_path, slice_packets = write_slice(workload, args.slice)
    warm_page_cache(workload)
    byte_compile()
    print(f"workload {workload}: {packets:,} packets, {workload.stat().st_size / 1e6:,.0f} MB; "
          f"slice {slice_path.name}: {slice_packets:,} packets; {os.cpu_count()} CPUs seen", flush=True)
    results: list[Result] = []
    verdict = None
    if not args.skip_engines:
        engine_results, verdict = measure_engines(args, workload, slice_path)
        results += engine_results
    if not args.skip_peers:
        results += measure_peers(args, workload, packets)
    print()
    print(results_table(results))
    print()
    print(ratios_table(ratio_rows(results, verdict)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
