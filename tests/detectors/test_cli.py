"""``metagate detect``: gated files in, findings out; what it says when an input or a setting is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from detectors import FindingKind, read_findings
from tests.detectors.gated import gated, probe, session


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metagate", "detect", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _scan_file(path: Path) -> Path:
    rows = [probe("198.51.100.7", f"192.0.2.{i}", t=i, orig_port=40000 + i) for i in range(1, 40)]
    pq.write_table(gated(rows), path)
    return path


def test_detect_writes_sorted_findings_and_a_summary(tmp_path: Path) -> None:
    scan = _scan_file(tmp_path / "scan.parquet")
    c2 = "198.51.100.200"
    beacons = gated([session("192.0.2.44", c2, t=i * 60.0, orig_port=40000 + i) for i in range(20)])
    with (tmp_path / "beacons.jsonl").open("w") as handle:
        for row in beacons.to_pylist():
            handle.write(json.dumps(row, default=str) + "\n")
    feed = tmp_path / "feed.json"
    indicator = {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--7a0c1d3e-5f6b-4c2d-8e9f-0a1b2c3d4e5f",
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '{c2}']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z",
    }  # fmt: skip
    feed.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [indicator]}))
    done = run(tmp_path, str(scan), "beacons.jsonl", "--indicators", str(feed), "-o", "findings.jsonl")
    assert done.returncode == 0, done.stderr
    findings = read_findings(tmp_path / "findings.jsonl")
    assert {f.kind for f in findings} == {
        FindingKind.HORIZONTAL_SCAN,
        FindingKind.BEACONING,
        FindingKind.INDICATOR_MATCH,
    }
    assert findings == sorted(findings, key=lambda f: f.sort_key())
    assert "detect: 59 records, 3 findings" in done.stderr


def test_an_unreadable_input_is_named_and_the_rest_still_read(tmp_path: Path) -> None:
    scan = _scan_file(tmp_path / "scan.parquet")
    (tmp_path / "raw.jsonl").write_text('{"flow_id": "1:x", "start": "2024-03-01T00:00:00Z"}\n')
    done = run(tmp_path, "missing.parquet", "raw.jsonl", str(scan), "-o", "-")
    assert done.returncode == 3
    assert "not read: missing.parquet" in done.stderr
    assert "raw.jsonl" in done.stderr and "not GatedRecords" in done.stderr
    assert len(done.stdout.splitlines()) == 1


def test_bad_settings_stop_before_anything_is_read(tmp_path: Path) -> None:
    scan = _scan_file(tmp_path / "scan.parquet")
    (tmp_path / "bad.yaml").write_text("ddos:\n  min_packet: 5\n")
    done = run(tmp_path, str(scan), "--config", "bad.yaml", "-o", "out.jsonl")
    assert done.returncode == 2 and "ddos.min_packet" in done.stderr
    assert not (tmp_path / "out.jsonl").exists()
    done = run(tmp_path, str(scan), "--indicators", "nowhere.json", "-o", "out.jsonl")
    assert done.returncode == 2 and "nowhere.json" in done.stderr
