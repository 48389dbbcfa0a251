"""IPFIX benchmark: flow records decoded per second on one core, and a loopback run at a set rate.

Datagrams come from our own exporter (collectors.IpfixEncoder: IPv4 and IPv6 biflows, 1400-byte
messages, templates every 64 messages), built once from synthetic flow records.

- decode: the datagrams fed to FlowDecoder, drained into FLOW_SCHEMA tables in batches of
  65,536 as the listener does (headers walked per datagram, every data set of a template
  decoded at once, Community IDs and address text by the fast engine's kernel); best of 3.
  Target at least 200k records/s.
- loopback: ``metagate collect ipfix://127.0.0.1:PORT -o /dev/null --format parquet`` as a
  process of its own (the whole collect path), and this process sending the datagrams at
  ``--rate`` records/s, paced every millisecond; sent against received (from the
  listener's closing summary) gives the datagrams dropped. The listener asks for a 32 MiB
  receive buffer (SO_RCVBUFFORCE as root, else capped by net.core.rmem_max).

    python bench/ipfix_bench.py [--records N] [--rate R] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors import FLOW_SCHEMA, FlowDecoder, IpfixEncoder, flow_table  # noqa: E402
from policies import format_ipv4, format_ipv6  # noqa: E402

T0_US = 1_714_564_800_000_000


def synthetic_flows(n: int, seed: int = 7) -> pa.Table:
    """n flow records: a fifth IPv6, TCP / UDP / ICMP mixed, varied counters."""
    rng = np.random.default_rng(seed)
    v6 = rng.random(n) < 0.2
    client4 = (0xC0000200 + rng.integers(0, 1 << 16, n)).astype(np.uint32)
    server4 = (0xC6336400 + rng.integers(0, 4096, n)).astype(np.uint32)
    hi = np.full(n, 0x20010DB800000000, dtype=np.uint64)
    orig = np.where(v6, format_ipv6(hi, rng.integers(1, 1 << 40, n).astype(np.uint64)).to_numpy(zero_copy_only=False),
                    format_ipv4(client4).to_numpy(zero_copy_only=False))  # fmt: skip
    resp = np.where(v6, format_ipv6(hi + 1, rng.integers(1, 4096, n).astype(np.uint64)).to_numpy(zero_copy_only=False),
                    format_ipv4(server4).to_numpy(zero_copy_only=False))  # fmt: skip
    proto = rng.choice(np.array([6, 17, 1], dtype=np.uint8), n, p=[0.7, 0.25, 0.05])
    start = T0_US + np.sort(rng.integers(0, 3_600_000_000, n))
    pkts = rng.integers(1, 200, n).astype(np.uint64)
    columns = {
        "flow_id": pa.array(["1:x"] * n),
        "start": pa.array(start, FLOW_SCHEMA.field("start").type),
        "end": pa.array(start + rng.integers(0, 60_000_000, n), FLOW_SCHEMA.field("end").type),
        "ip_version": pa.array(np.where(v6, 6, 4).astype(np.uint8)),
        "proto": pa.array(proto),
        "orig_addr": pa.array(orig.astype(str)),
        "orig_port": pa.array(np.where(proto == 1, 8, rng.integers(1024, 65535, n)).astype(np.uint16)),
        "resp_addr": pa.array(resp.astype(str)),
        "resp_port": pa.array(np.where(proto == 1, 0, rng.choice([53, 80, 443, 22], n)).astype(np.uint16)),
        "orig_pkts": pa.array(pkts),
        "resp_pkts": pa.array(pkts // 2),
        "orig_ip_bytes": pa.array(pkts * 80),
        "resp_ip_bytes": pa.array(pkts * 600),
        "orig_tcp_flags": pa.array(np.where(proto == 6, 0x1B, 0).astype(np.uint8)),
        "resp_tcp_flags": pa.array(np.where(proto == 6, 0x1B, 0).astype(np.uint8)),
        "end_reason": pa.array(["idle"] * n),
    }
    return pa.table(columns)


def bench_decode(messages: list[bytes], records: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        decoder = FlowDecoder(versions=frozenset({10}))
        started = time.perf_counter()
        got = 0
        for message in messages:
            decoder.feed(message, "127.0.0.1:4739")
            if decoder.ready >= 65_536:
                got += flow_table(decoder.drain(), "tap0", decoder.stats).num_rows
        got += flow_table(decoder.drain(), "tap0", decoder.stats).num_rows
        best = min(best, time.perf_counter() - started)
        assert got == records and not decoder.stats.problems, (got, decoder.stats.problems)
    return records / best


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_bound(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                return
        time.sleep(0.05)
    raise SystemExit(f"the listener did not bind port {port}")


def bench_loopback(messages: list[bytes], per_message: float, rate: float, seconds: float) -> dict[str, float]:
    """Send for ``seconds`` at ``rate`` records/s (the datagrams repeated as needed)."""
    port = free_port()
    listener = subprocess.Popen(
        [str(ROOT / ".venv/bin/metagate") if (ROOT / ".venv/bin/metagate").exists() else "metagate", "collect",
         f"ipfix://127.0.0.1:{port}", "-o", "/dev/null", "--format", "parquet", "--stop-when-idle", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_bound(port)
    time.sleep(0.5)
    per_second = rate / per_message  # datagrams
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        started = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
            due = int(elapsed * per_second)
            while sent < due:
                sock.send(messages[sent % len(messages)])
                sent += 1
            time.sleep(0.001)
        took = time.perf_counter() - started
    _, err = listener.communicate(timeout=300)
    match = re.search(r"flow messages ([\d,]+) .*flow records ([\d,]+)", err)
    if listener.returncode != 0 or match is None:
        raise SystemExit(f"listener failed ({listener.returncode}): {err}")
    received = int(match.group(1).replace(",", ""))
    records = int(match.group(2).replace(",", ""))
    return {"sent": sent, "received": received, "dropped": sent - received, "records": records,
            "rate": sent * per_message / took, "seconds": took}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=250_000.0, help="records/s sent in the loopback run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")

    table = synthetic_flows(args.records)
    encoder = IpfixEncoder(max_message=1400)
    started = time.perf_counter()
    messages = encoder.encode(table)
    encode_rate = args.records / (time.perf_counter() - started)
    per_message = args.records / len(messages)
    print(f"IPFIX: {args.records:,} records in {len(messages):,} datagrams ({per_message:.1f} records each); "
          f"encoded at {encode_rate:,.0f} records/s")  # fmt: skip
    rate = bench_decode(messages, args.records, args.repeat)
    print(f"decode, one core: {rate:,.0f} records/s (target 200,000) {'ok' if rate >= 200_000 else 'BELOW TARGET'}")
    result = bench_loopback(messages, per_message, args.rate, args.seconds)
    print(
        f"loopback at {result['rate']:,.0f} records/s for {result['seconds']:.1f} s: datagrams sent "
        f"{result['sent']:,}, received {result['received']:,}, dropped {result['dropped']:,}; "
        f"records decoded {result['records']:,}"
    )


if __name__ == "__main__":
    main()
