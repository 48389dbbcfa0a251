"""The detectors' parts: thresholds from YAML, address keys, the Finding model, window schedules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors import DetectorConfig, Finding, load_detector_config, read_findings, write_findings
from detectors._keys import hash_text
from detectors._windows import US, WindowStore
from policies import ConfigError
from tests.detectors.gated import detect, gated, probe


def test_defaults_and_overrides_from_yaml(tmp_path: Path) -> None:
    assert load_detector_config(None) == DetectorConfig()
    path = tmp_path / "thresholds.yaml"
    path.write_text("horizontal_scan:\n  min_targets: 40\nbeaconing:\n  enabled: false\n")
    config = load_detector_config(path)
    assert config.horizontal_scan.min_targets == 40 and not config.beaconing.enabled
    assert config.vertical_scan == DetectorConfig().vertical_scan
    (tmp_path / "empty.yaml").write_text("")
    assert load_detector_config(tmp_path / "empty.yaml") == DetectorConfig()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("horizontal_scan:\n  min_target: 40\n", "horizontal_scan.min_target"),
        ("brute_force:\n  services: [ssh/22]\n", "brute_force.services.0"),
        ("ddos:\n  window: -5\n", "ddos.window"),
        ("vertical_scan:\n  slow_window: 60\n", "vertical_scan"),
        ("beaconing:\n  max_period: 5000\n", "beaconing"),
        ("- a list\n", "config"),
    ],
)
def test_a_bad_threshold_is_an_error_naming_it(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_detector_config(path)
    assert caught.value.field == field and str(path) in str(caught.value)


@given(st.lists(st.text(max_size=45), min_size=1, max_size=40), st.integers(0, 5))
def test_keys_depend_on_the_text_only(texts: list[str], cut: int) -> None:
    whole = hash_text(pa.array(texts))
    cut = min(cut, len(texts))
    sliced = hash_text(pa.array(["pad"] * 3 + texts).slice(3))
    chunked = hash_text(pa.chunked_array([pa.array(texts[:cut], pa.string()), pa.array(texts[cut:], pa.string())]))
    assert np.array_equal(whole, sliced) and np.array_equal(whole, chunked)
    for i, a in enumerate(texts):
        for j, b in enumerate(texts):
            assert (whole[i] == whole[j]) == (a == b)


def test_a_key_does_not_depend_on_the_other_texts_of_its_batch() -> None:
    alone = hash_text(pa.array(["192.0.2.1"]))
    beside_long = hash_text(pa.array(["2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "192.0.2.1"]))
    assert alone[0] == beside_long[1]


def test_keys_of_addresses_are_distinct_and_stable() -> None:
    addresses = [f"10.{i >> 8}.{i & 255}.1" for i in range(20_000)] + ["2001:db8::1", "2001:db8:0:0:0:0:0:1", ""]
    keys = hash_text(pa.array(addresses))
    assert len(np.unique(keys)) == len(addresses)
    assert int(hash_text(pa.array(["192.0.2.1"]))[0]) == 0x3228E53D05A13ED0, "fixed: no per-process seed"


def test_findings_round_trip_through_json_lines(tmp_path: Path) -> None:
    rows = [probe("198.51.100.7", f"192.0.2.{i}", t=i, orig_port=40000 + i) for i in range(1, 40)]
    findings = detect(gated(rows))
    out = tmp_path / "findings.jsonl"
    assert write_findings(findings, out) == len(findings) == 1
    assert read_findings(out) == findings
    again = detect(gated(rows))
    assert again[0].id == findings[0].id, "ids come from what the finding says"
    with pytest.raises(ValueError, match="confidence"):
        Finding.model_validate({**findings[0].model_dump(), "confidence": 101})


def test_windows_close_on_flow_time_with_lateness() -> None:
    store = WindowStore(width_s=60, lateness_s=30, max_rows=100)
    assert store.ready(None) == []
    for k in (0, 1, 5):
        store._keep(k, None)  # type: ignore[arg-type]  # the schedule looks at window numbers only
    # window 0 closes at 60 s + 30 s of lateness; the evaluation of window 1 (windows 0 and 1) at 150 s
    assert store.ready(89 * US) == []
    assert store.ready(90 * US) == [0]
    assert store.ready(150 * US) == [0, 1]
    assert store.ready(None) == [0, 1, 2, 5, 6], "a window's successor evaluates it with its neighbour"
