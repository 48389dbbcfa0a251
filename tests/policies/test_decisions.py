"""The decision engine: traffic classes, approvals by scope and time, and failing closed."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from policies import CLASSES, DecisionEngine, TrafficClass, load_policy

SITE = Path(__file__).parent.parent / "data" / "policies" / "site-jp.yaml"
POLICY = load_policy(SITE)
ENGINE = DecisionEngine(POLICY)
US = 1_000_000
T2024 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * US

DOMESTIC = ["192.0.2.1", "203.0.113.200", "2001:db8:a::5", "10.1.2.3", "100.64.0.9", "fe80::1"]
FOREIGN = ["198.51.100.7", "8.8.8.8", "2001:db8:f::1", "2606:4700::1111"]


def _decide(pairs: list[tuple[str, str]], start: int = T2024, seconds: int = 1):  # type: ignore[no-untyped-def]
    n = len(pairs)
    orig = pa.array([p[0] for p in pairs], pa.string())
    resp = pa.array([p[1] for p in pairs], pa.string())
    begin = np.full(n, start, np.int64)
    return ENGINE.decide(orig, resp, begin, begin + seconds * US)


def _same_version(a: str, b: str) -> bool:
    return ipaddress.ip_address(a).version == ipaddress.ip_address(b).version


def test_classes_and_clauses() -> None:
    pairs = [("198.51.100.7", "8.8.8.8"), ("198.51.100.7", "192.0.2.1"), ("10.1.2.3", "8.8.8.8"),
             ("192.0.2.1", "203.0.113.200")]  # fmt: skip
    d = _decide(pairs)
    assert [CLASSES[c] for c in d.traffic_class] == [
        TrafficClass.FOREIGN_TO_FOREIGN, TrafficClass.FOREIGN_TO_DOMESTIC,
        TrafficClass.DOMESTIC_TO_FOREIGN, TrafficClass.DOMESTIC_TO_DOMESTIC,
    ]  # fmt: skip
    assert d.allow.tolist() == [False, True, True, False]
    reasons = [d.reasons[r] for r in d.reason]
    assert reasons[0] == "jp-acd:classes.foreign-to-foreign=approval, none covers the flow"
    assert reasons[1].startswith("approval OC-2024-017") and reasons[2] == reasons[1]
    assert reasons[3] == "jp-acd:classes.domestic-to-domestic=never"
    assert d.approval_ids().to_pylist() == [None, "OC-2024-017", "OC-2024-017", None]
    assert d.counts() == {reasons[0]: 1, reasons[1]: 2, reasons[3]: 1}


def test_approval_window_is_the_whole_flow() -> None:
    valid_from = int(POLICY.approvals[0].valid_from.timestamp()) * US
    pair = [("198.51.100.7", "192.0.2.1")]
    assert not _decide(pair, start=valid_from - US, seconds=2).allow[0], "began before the approval"
    assert _decide(pair, start=valid_from, seconds=2).allow[0]
    valid_until = int(POLICY.approvals[0].valid_until.timestamp()) * US
    assert not _decide(pair, start=valid_until - US, seconds=2).allow[0], "ran past the approval"


def test_unparseable_or_mixed_versions_fail_closed() -> None:
    d = _decide([("not-an-ip", "192.0.2.1"), ("198.51.100.7", "2001:db8:a::5"), ("", "8.8.8.8")])
    assert not d.allow.any()
    assert {d.reasons[r] for r in d.reason} == {d.reasons[0]} and d.reasons[0].startswith("unclassified")
    assert d.class_names().to_pylist() == [None, None, None]


def test_approval_scope_limits_it(tmp_path: Path) -> None:
    text = SITE.read_text().replace('scope: [0.0.0.0/0, "::/0"]', "scope: [198.51.100.0/24]")
    site = tmp_path / "site.yaml"
    site.write_text(text)
    for item in SITE.parent.iterdir():
        if item.suffix != ".yaml":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    engine = DecisionEngine(load_policy(site))
    orig = pa.array(["198.51.100.7", "8.8.4.4"])
    resp = pa.array(["192.0.2.1", "192.0.2.1"])
    begin = np.full(2, T2024, np.int64)
    assert engine.decide(orig, resp, begin, begin + US).allow.tolist() == [True, False]


@given(st.sampled_from(DOMESTIC), st.sampled_from(DOMESTIC), st.integers(0, 20 * 365 * 86400))
def test_domestic_to_domestic_never_passes(a: str, b: str, offset: int) -> None:
    if not _same_version(a, b):
        return
    d = _decide([(a, b)], start=T2024 - 5 * 365 * 86400 * US + offset * US)
    assert CLASSES[d.traffic_class[0]] is TrafficClass.DOMESTIC_TO_DOMESTIC and not d.allow[0]


@given(
    st.sampled_from(DOMESTIC + FOREIGN),
    st.sampled_from(DOMESTIC + FOREIGN),
    st.one_of(st.integers(-(10**9), -61 * 86400), st.integers(int(timedelta(days=2500).total_seconds()), 10**10)),
)
def test_outside_every_approval_never_passes(a: str, b: str, offset: int) -> None:
    """Before 2024 or after 2030 no approval covers anything, so nothing passes."""
    if not _same_version(a, b):
        return
    assert not _decide([(a, b)], start=T2024 + offset * US).allow[0]
