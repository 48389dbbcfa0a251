"""Synthetic GatedRecord batches for the detectors' speed benchmark (no capture, no gate: fast).

The mix looks like a carrier tap after the gate: most flows are subscribers (pseudonyms in
a few domestic-looking /16s) reaching outside servers (a Zipf-popular pool, so CDN-like
servers see thousands of clients and the long tail a few), a quarter are outside parties
reaching domestic servers, a few percent are transit. TCP with the states a collector
writes (a tenth refused or unanswered), UDP DNS / QUIC / NTP, some ICMP; flow ids are
random "p1:" strings like the gate's. Starts grow at a fixed rate with the disorder of
collector export (up to a few minutes late), so windows open and close as on a real feed.

    from bench.gated_synth import batches
    for table in batches(1_000_000, rate=20.0, seed=1): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from filters import gated_schema
from policies import format_ipv4, load_profile

SCHEMA = gated_schema(load_profile("jp-acd").fields)
EPOCH_US = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp()) * 1_000_000
BATCH = 65_536
_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8)
I64 = npt.NDArray[np.int64]


def _flow_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``p1:`` and 28 base64 characters of random bits, as the gate's re-keyed ids look."""
    raw = rng.integers(0, 64, size=(n, 28), dtype=np.int64)
    text = np.empty((n, 31), np.uint8)
    text[:, :3] = np.frombuffer(b"p1:", np.uint8)
    text[:, 3:] = _B64[raw]
    offsets = np.arange(0, 31 * (n + 1), 31, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())])


def _table(rng: np.random.Generator, n: int, first: int, rate: float) -> pa.Table:
    cls = rng.choice(3, size=n, p=[0.70, 0.25, 0.05])  # out, in, transit
    subscriber = (100 << 24 | 64 << 16) + rng.integers(0, 1 << 18, size=n)  # pseudonyms look like this
    domestic_server = (203 << 24 | 113 << 16) + rng.integers(0, 1 << 12, size=n)
    popular = np.minimum(rng.zipf(1.3, size=n), 200_000)
    server = (23 << 24) + popular * 2654435761 % (1 << 24)
    outsider = (45 << 24) + rng.integers(0, 1 << 24, size=n)
    orig = np.select([cls == 0, cls == 1], [subscriber, outsider], outsider)
    resp = np.select([cls == 0, cls == 1], [server, domestic_server], server)
    proto = rng.choice([6, 17, 1], size=n, p=[0.78, 0.20, 0.02])
    resp_port = np.where(
        proto == 6,
        rng.choice([443, 80, 22, 25, 8080, 993], size=n, p=[0.6, 0.2, 0.05, 0.05, 0.05, 0.05]),
        np.where(proto == 17, rng.choice([53, 443, 123, 4500], size=n), 0),
    )
    orig_port = np.where(proto == 1, 8, rng.integers(1024, 65536, size=n))
    refused = rng.random(n) < 0.1
    orig_pkts = np.where(refused, 1, rng.integers(2, 40, size=n))
    resp_pkts = np.where(refused, rng.integers(0, 2, size=n), orig_pkts + rng.integers(-1, 30, size=n).clip(0))
    orig_bytes = orig_pkts * rng.integers(40, 600, size=n)
    resp_bytes = resp_pkts * rng.integers(40, 1400, size=n)
    position = first + np.arange(n)
    start = EPOCH_US + (position / rate * 1e6).astype(np.int64) - rng.integers(0, 180_000_000, size=n)
    duration = np.where(refused, 0, rng.exponential(3e6, size=n).astype(np.int64))
    state = np.where(proto == 6, np.where(refused, np.where(resp_pkts > 0, "REJ", "S0"), "SF"), "SF")
    state = np.where((proto != 6) & (resp_pkts == 0), "S0", state)
    classes = np.array(["domestic-to-foreign", "foreign-to-domestic", "foreign-to-foreign"])[cls]
    ts = pa.timestamp("us", tz="UTC")
    columns = {
        "flow_id": _flow_ids(rng, n),
        "start": pa.array(start, ts),
        "end": pa.array(start + duration, ts),
        "ip_version": pa.array(np.full(n, 4), pa.uint8()),
        "proto": pa.array(proto, pa.uint8()),
        "orig_addr": format_ipv4(orig.astype(np.uint32)),
        "orig_port": pa.array(orig_port, pa.uint16()),
        "resp_addr": format_ipv4(resp.astype(np.uint32)),
        "resp_port": pa.array(resp_port, pa.uint16()),
        "orig_pkts": pa.array(orig_pkts, pa.uint64()),
        "resp_pkts": pa.array(resp_pkts, pa.uint64()),
        "orig_ip_bytes": pa.array(orig_bytes, pa.uint64()),
        "resp_ip_bytes": pa.array(resp_bytes, pa.uint64()),
        "orig_tcp_flags": pa.array(np.where(proto == 6, 0x1B, 0), pa.uint8()),
        "resp_tcp_flags": pa.array(np.where(proto == 6, 0x1B, 0), pa.uint8()),
        "history": pa.array(np.where(proto == 6, "ShADadFf", "Dd")),
        "conn_state": pa.array(state),
        "vlan": pa.nulls(n, pa.uint16()),
        "inner_vlan": pa.nulls(n, pa.uint16()),
        "mpls": pa.array([[]] * n, pa.list_(pa.uint32())),
        "tunnel": pa.nulls(n, pa.string()),
        "tunnel_parents": pa.array([[]] * n, pa.list_(pa.string())),
        "end_reason": pa.array(np.where(proto == 6, "tcp_end", "idle")),
        "tap_id": pa.array(np.full(n, "tap0")),
        "traffic_class": pa.array(classes),
        "approval_id": pa.array(np.full(n, "OC-2024-017")),
        "pseudonym_method": pa.array(np.full(n, "cryptopan")),
        "pseudonym_key": pa.array(np.full(n, "k2025")),
        "retain_until": pa.array(start + 730 * 86_400_000_000, ts),
        "policy": pa.array(np.full(n, "bench-carrier")),
    }
    return pa.table(columns).cast(SCHEMA)


def batches(total: int, *, rate: float = 20.0, seed: int = 1, batch: int = BATCH) -> Iterator[pa.Table]:
    """``total`` gated records at ``rate`` flows a second of flow time, ``batch`` rows at a time."""
    rng = np.random.default_rng(seed)
    for first in range(0, total, batch):
        yield _table(rng, min(batch, total - first), first, rate)
