"""The chain: same findings whatever the batch cuts, bounded state, the real gate in front, errors."""

from __future__ import annotations

import ipaddress
import itertools
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import DetectorChain, DetectorError, Finding, FindingKind, IndicatorSet
from filters import Gate
from policies import load_policy
from tests.detectors.gated import SCHEMA, gated, gflow, probe, session
from tests.flowtables import T0, flow, table

SITE = Path(__file__).parent.parent / "data" / "policies" / "site-jp.yaml"
C2 = "198.51.100.200"
FEED = IndicatorSet.from_objects(
    [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--7a0c1d3e-5f6b-4c2d-8e9f-0a1b2c3d4e5f",
            "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '{C2}']",
            "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00Z",
        }
    ]
)


def _mixed_rows() -> list[dict[str, Any]]:
    """Something for every detector, background, and the disorder of collector export."""
    rng = random.Random(11)
    rows = [probe("198.51.100.7", f"192.0.2.{i}", t=200 + i * 3.0, orig_port=40000 + i) for i in range(1, 40)]
    rows += [probe("198.51.100.8", "192.0.2.5", t=900 + i, port=1000 + i) for i in range(30)]
    login = {"orig_pkts": 10, "resp_pkts": 9, "orig_ip_bytes": 1400, "resp_ip_bytes": 2600}
    rows += [
        session("198.51.100.66", "192.0.2.10", t=i * 9.0, port=22, orig_port=30000 + i, **login) for i in range(45)
    ]
    rows += [session("192.0.2.44", C2, t=i * 60.0 + rng.random() * 5, orig_port=20000 + i) for i in range(60)]
    flood = {"proto": 17, "resp_port": 27015, "seconds": 30.0, "orig_pkts": 1000, "resp_pkts": 0,
             "orig_ip_bytes": 100_000, "resp_ip_bytes": 0, "conn_state": "S0", "history": "D"}  # fmt: skip
    rows += [gflow(f"198.51.100.{i}", "192.0.2.80", t=1500 + i * 0.5, **flood) for i in range(100, 130)]
    reflect = {**flood, "orig_port": 53, "resp_port": 41000, "orig_ip_bytes": 200_000}
    rows += [gflow(f"198.51.100.{i}", "192.0.2.81", t=2400 + i * 0.5, **reflect) for i in range(130, 145)]
    rows += [session(f"203.0.113.{i % 200 + 1}", f"198.51.100.{i % 90 + 1}", t=rng.random() * 3600) for i in range(150)]
    rows.sort(key=lambda r: r["end"].timestamp() + rng.random() * 60)  # written as flows end, a little jumbled
    return rows


MIXED = gated(_mixed_rows())


def _feed_in(cuts: list[int]) -> list[Finding]:
    chain = DetectorChain(indicators=FEED)
    edges = [0, *sorted(set(cuts)), MIXED.num_rows]
    drained = []
    for lo, hi in itertools.pairwise(edges):
        chain.feed(MIXED.slice(lo, hi - lo))
        drained += chain.drain()
    return sorted(drained + chain.finish(), key=Finding.sort_key)


REFERENCE = _feed_in([])


def test_the_mixed_table_gives_every_kind() -> None:
    assert {f.kind for f in REFERENCE} == set(FindingKind)


@settings(max_examples=40)
@given(st.lists(st.integers(min_value=1, max_value=MIXED.num_rows - 1), max_size=12))
def test_findings_do_not_depend_on_the_batch_cuts(cuts: list[int]) -> None:
    assert _feed_in(cuts) == REFERENCE


def test_findings_are_drained_as_windows_close_and_never_twice() -> None:
    chain = DetectorChain(indicators=FEED)
    early = []
    for lo in range(0, MIXED.num_rows, 50):
        chain.feed(MIXED.slice(lo, 50))
        early += chain.drain()
    late = chain.finish()
    assert early, "windows closed before the end"
    assert not {f.id for f in early} & {f.id for f in late}
    assert sorted(early + late, key=Finding.sort_key) == REFERENCE
    assert chain.finish() == []
    with pytest.raises(DetectorError, match="finished"):
        chain.feed(MIXED)


def _steady(hours: float, rate: float, seed: int) -> list[pa.Table]:
    """Ten-minute batches of background at ``rate`` flows a second: subscribers out, strangers in."""
    rng = np.random.default_rng(seed)
    insiders = np.array([f"203.0.113.{i}" for i in range(1, 250)])
    strangers = np.array([str(ipaddress.IPv4Address(int(a))) for a in rng.integers(0x2D000000, 0x2E000000, 20_000)])
    base = table([flow("192.0.2.1", "198.51.100.1")]).to_pylist()[0]
    tables = []
    for begin in range(0, int(hours * 3600), 600):
        n = int(rate * 600)
        start = T0.timestamp() * 1e6 + (begin + np.sort(rng.uniform(0, 600, n))) * 1e6
        outbound = rng.random(n) < 0.7
        inside = insiders[rng.integers(0, len(insiders), n)]
        outside = strangers[rng.integers(0, len(strangers), n)]
        columns: dict[str, Any] = {
            name: pa.repeat(pa.scalar(base[name], SCHEMA.field(name).type), n) for name in SCHEMA.names if name in base
        }
        columns.update(
            flow_id=pa.array(np.char.add(f"p1:{seed}-{begin}-", np.arange(n).astype(str))),
            start=pa.array(start.astype(np.int64), pa.timestamp("us", tz="UTC")),
            end=pa.array((start + 1e6).astype(np.int64), pa.timestamp("us", tz="UTC")),
            orig_addr=np.where(outbound, inside, outside).tolist(),
            resp_addr=np.where(outbound, outside, inside).tolist(),
            orig_port=rng.integers(1024, 65535, n).tolist(),
            traffic_class=np.where(outbound, "domestic-to-foreign", "foreign-to-domestic").tolist(),
            approval_id=pa.repeat("OC-2024-017", n),
            pseudonym_method=pa.repeat("cryptopan", n),
            pseudonym_key=pa.repeat("k2024", n),
            retain_until=pa.repeat(pa.scalar(datetime(2026, 3, 1, tzinfo=UTC), pa.timestamp("us", tz="UTC")), n),
            policy=pa.repeat("test-carrier", n),
        )
        tables.append(pa.table(columns).cast(SCHEMA))
    return tables


def _peaks(tables: list[pa.Table]) -> dict[str, int]:
    chain = DetectorChain()
    for t in tables:
        chain.feed(t)
    peaks = {kind: max(v for k, v in stats.items() if k.endswith("peak")) for kind, stats in chain.stats().items()}
    chain.finish()
    assert all(v == 0 for stats in chain.stats().values() for k, v in stats.items() if k.endswith("held"))
    return peaks


def test_state_is_bounded_by_the_windows_not_by_the_input() -> None:
    rate = 2.0
    day, two_days = _peaks(_steady(24, rate, 1)), _peaks(_steady(48, rate, 1))
    for kind, peak in two_days.items():
        assert peak <= 1.05 * day[kind] + 50, f"{kind} holds more rows for a longer input"
    # beaconing keeps the most: two hour-long windows, the lateness and one batch of outbound flows
    assert two_days["beaconing"] <= 0.7 * rate * (2 * 3600 + 2400 + 600) * 1.1
    assert two_days["horizontal-scan"] <= 0.3 * rate * (2 * 600 + 2400 + 600) * 1.1 + 100


def test_the_bound_on_rows_drops_and_counts() -> None:
    from detectors import DetectorConfig

    chain = DetectorChain(DetectorConfig(max_window_rows=1000))
    for t in _steady(2, 2.0, 3):
        chain.feed(t)
    stats = chain.stats()["beaconing"]
    assert stats["peak"] <= 1000 and stats["over_bound"] > 0


def test_late_records_are_dropped_and_counted() -> None:
    chain = DetectorChain()
    chain.feed(gated([session("192.0.2.44", C2, t=3 * 3600.0)]))
    chain.feed(gated([session("192.0.2.44", C2, t=0.0)]))  # three hours late: its windows have closed
    assert chain.stats()["beaconing"]["late"] == 1


def test_behind_the_real_gate_subjects_are_clear_and_targets_pseudonyms() -> None:
    clear_targets = [f"192.0.2.{i}" for i in range(1, 31)]
    rows = [
        flow("198.51.100.7", host, start=T0, resp_port=23, orig_pkts=1, resp_pkts=0, orig_ip_bytes=44,
             resp_ip_bytes=0, conn_state="S0", history="S", orig_port=40000 + i)
        for i, host in enumerate(clear_targets)
    ]  # fmt: skip
    gate = Gate(load_policy(SITE), now=datetime(2026, 12, 1, tzinfo=UTC))
    chain = DetectorChain()
    chain.feed(gate(table(rows)))
    (finding,) = chain.finish()
    assert finding.subject == ("198.51.100.7",)
    assert finding.target_total == 30 and not set(finding.targets) & set(clear_targets)
    nets = {ipaddress.ip_network(f"{t}/24", strict=False) for t in finding.targets}
    assert len(nets) == 1, "Crypto-PAn keeps the targets in one /24, a pseudonymous one"
    assert all(e.startswith("p1:") for e in finding.evidence)


def test_only_gated_records_are_read() -> None:
    with pytest.raises(DetectorError, match="only GatedRecords") as caught:
        DetectorChain().feed(table([flow("198.51.100.7", "192.0.2.1")]))
    assert caught.value.field == "traffic_class"
    with pytest.raises(DetectorError, match="lack orig_pkts"):
        DetectorChain().feed(MIXED.drop_columns(["orig_pkts"]))
    odd = MIXED.slice(0, 2).set_column(
        MIXED.schema.get_field_index("traffic_class"), "traffic_class", pa.array(["sideways", "sideways"])
    )
    with pytest.raises(DetectorError, match="unknown traffic class 'sideways'"):
        DetectorChain().feed(odd)
