"""Pseudonymizer and address-codec benchmark: the gate's address work against its targets.

Measured, each the best of N runs on one core (the benchmark machine has two shared, noisy
cores; absolute rates move from run to run, the ratios are the result):

- Crypto-PAn over distinct IPv4 addresses (1M by default), as numbers (``anonymize_ipv4``)
  and as a text column (``pseudonymize``: parse, encrypt, format); target 500k addresses/s;
- Crypto-PAn over distinct IPv6 addresses, the same two ways;
- HMAC and prefix truncation over distinct addresses (80% IPv4, 20% IPv6) as text columns;
- ``parse_addresses`` + ``in_prefixes`` over 1M flow-record addresses drawn with realistic
  repetition (a few thousand busy endpoints, a long tail) against a national-size prefix
  list (2,500 IPv4 and 120 IPv6 prefixes); target 1M records/s;
- Crypto-PAn ``pseudonymize`` over the same 1M repeating records, as the gate calls it.

    python bench/cryptopan_bench.py [--distinct N] [--records N] [--repeat N] [--seed S]
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without an install
    sys.path.insert(0, str(ROOT))

from filters._cryptopan import CryptoPan  # noqa: E402
from filters._hmac import HmacPseudonymizer  # noqa: E402
from filters._truncate import PrefixTruncator  # noqa: E402
from policies._addresses import PrefixSet, format_ipv4, format_ipv6, in_prefixes, parse_addresses  # noqa: E402

CRYPTOPAN_TARGET = 500_000  # distinct IPv4 addresses/s on one core
GATE_TARGET = 1_000_000  # flow records/s through the gate


@dataclass
class Row:
    name: str
    items: int
    seconds: float
    unit: str
    target: float | None = None

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    run()  # warm-up: first-call costs (imports, allocator) are not the steady state
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def distinct_v4(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint32]:
    values = np.unique(rng.integers(0, 2**32, n + n // 8 + 16, dtype=np.uint64).astype(np.uint32))
    return rng.permutation(values)[:n]


def distinct_v6(rng: np.random.Generator, n: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    # a few hundred /48s, the hosts inside random: what a carrier's IPv6 traffic looks like
    sites = rng.integers(0, 2**48, 400, dtype=np.uint64) | np.uint64(0x2000 << 32)
    hi = (sites[rng.integers(0, len(sites), n)] << np.uint64(16)) | rng.integers(0, 2**16, n, dtype=np.uint64)
    lo = rng.integers(0, 2**64, n, dtype=np.uint64)
    return hi, lo


def mixed_column(rng: np.random.Generator, n: int) -> pa.Array:
    n6 = n // 5
    v4 = format_ipv4(distinct_v4(rng, n - n6))
    v6 = format_ipv6(*distinct_v6(rng, n6))
    column = pa.concat_arrays([v4, v6])
    return column.take(pa.array(rng.permutation(n)))


def repeating_records(rng: np.random.Generator, records: int, endpoints: int) -> pa.Array:
    """Flow-record addresses: Zipf-like popularity over a pool of distinct endpoints."""
    pool = mixed_column(rng, endpoints)
    ranks = np.minimum(rng.zipf(1.3, records) - 1, endpoints - 1)
    return pool.take(pa.array(ranks))


def national_prefixes(rng: np.random.Generator) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for _ in range(2500):
        length = int(rng.integers(12, 25))
        nets.append(ipaddress.IPv4Network((int(rng.integers(0, 2**32)), length), strict=False))
    for _ in range(100):
        length = int(rng.integers(29, 49))
        nets.append(ipaddress.IPv6Network(((0x2000 << 112) | int(rng.integers(0, 2**62)) << 64, length), strict=False))
    for _ in range(20):
        nets.append(
            ipaddress.IPv6Network((int(rng.integers(0, 2**63)) << 65 | int(rng.integers(0, 2**63)), 96), strict=False)
        )
    return nets


def measure(args: argparse.Namespace) -> list[Row]:
    rng = np.random.default_rng(args.seed)
    cp = CryptoPan(rng.bytes(32), "bench")
    hm = HmacPseudonymizer(rng.bytes(32), "bench")
    tr = PrefixTruncator()
    rows: list[Row] = []

    def add(name: str, items: int, unit: str, run: Callable[[], Any], target: float | None = None) -> None:
        print(f"  {name} ...", flush=True)
        rows.append(Row(name, items, best_of(args.repeat, run), unit, target))

    n4 = args.distinct
    v4 = distinct_v4(rng, n4)
    v4_text = format_ipv4(v4)
    add("cryptopan IPv4, numbers (anonymize_ipv4)", n4, "addr/s", lambda: cp.anonymize_ipv4(v4), CRYPTOPAN_TARGET)
    add("cryptopan IPv4, text column (pseudonymize)", n4, "addr/s", lambda: cp.pseudonymize(v4_text), CRYPTOPAN_TARGET)

    n6 = max(args.distinct // 5, 1)
    hi, lo = distinct_v6(rng, n6)
    v6_text = format_ipv6(hi, lo)
    add("cryptopan IPv6, numbers (anonymize_ipv6)", n6, "addr/s", lambda: cp.anonymize_ipv6(hi, lo))
    add("cryptopan IPv6, text column (pseudonymize)", n6, "addr/s", lambda: cp.pseudonymize(v6_text))

    mixed = mixed_column(rng, n4)
    add("hmac, text column, 80% v4 / 20% v6", n4, "addr/s", lambda: hm.pseudonymize(mixed))
    add("truncate /24 /48, text column, 80/20", n4, "addr/s", lambda: tr.pseudonymize(mixed))

    records = repeating_records(rng, args.records, args.endpoints)
    prefixes = national_prefixes(rng)
    compiled = PrefixSet.compile(prefixes)
    parsed = parse_addresses(records)
    as_tuple = tuple(prefixes)
    add("parse_addresses, repeating records", args.records, "rec/s", lambda: parse_addresses(records), GATE_TARGET)
    add("in_prefixes, 2,620 prefixes (PrefixSet)", args.records, "rec/s", lambda: in_prefixes(parsed, compiled))
    add("in_prefixes, 2,620 prefixes (tuple, cached)", args.records, "rec/s", lambda: in_prefixes(parsed, as_tuple))
    add(
        "parse_addresses + in_prefixes",
        args.records,
        "rec/s",
        lambda: in_prefixes(parse_addresses(records), as_tuple),
        GATE_TARGET,
    )
    add(
        "cryptopan pseudonymize, repeating records",
        args.records,
        "rec/s",
        lambda: cp.pseudonymize(records),
        GATE_TARGET,
    )
    hits = in_prefixes(parsed, compiled)
    distinct = len(records.unique())
    print(f"  ({distinct:,} distinct addresses in {args.records:,} records; {hits.mean():.1%} inside the prefixes)")
    return rows


def fmt_rate(rate: float) -> str:
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.1f}k"


def table(rows: list[Row]) -> str:
    out = [f"{'measurement':<46} {'items':>10} {'seconds':>8} {'rate':>9} {'unit':<7} {'target':>8} {'ratio':>7}"]
    for r in rows:
        target = fmt_rate(r.target) if r.target else "-"
        ratio = f"{r.rate / r.target:.2f}x" if r.target else f"({r.rate / CRYPTOPAN_TARGET:.2f}x)"
        out.append(
            f"{r.name:<46} {r.items:>10,} {r.seconds:>8.3f} {fmt_rate(r.rate):>9} {r.unit:<7} {target:>8} {ratio:>7}"
        )
    out.append("ratio: rate / target; in parentheses, rows without a target against the 500k/s Crypto-PAn target")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=1_000_000, help="distinct IPv4 addresses (IPv6: a fifth)")
    parser.add_argument("--records", type=int, default=1_000_000, help="flow-record addresses with repetition")
    parser.add_argument("--endpoints", type=int, default=100_000, help="pool the repeating records draw from")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the best counts")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print(f"metagate address benchmark: {args.distinct:,} distinct, {args.records:,} records, best of {args.repeat}")
    rows = measure(args)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
