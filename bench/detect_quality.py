"""Precision and recall of every detector on the labelled scenario, and findings on benign traffic.

    python bench/detect_quality.py [--dir bench/out/detect] [--config THRESHOLDS.yaml] [--metagate CMD]

Runs the real pipeline on the captures make_scenarios.py wrote (generating them first when
they are missing): ``metagate collect CAPTURE --policy site.yaml`` (gated in memory: only
GatedRecords reach the disk) and ``metagate detect GATED --indicators indicators.json``,
then scores the findings against ``labels.jsonl``:

- a finding is a true positive when a label of its kind names one of its subjects and the
  label's time span overlaps the finding's [first_seen, last_seen] (with ``--slack``
  seconds either side);
- precision = true-positive findings / findings of that kind; recall = labels matched by at
  least one finding of their kind / labels of that kind.

Targets (issue 4): precision and recall at least 0.95 per detector at default thresholds,
and no finding at all on the benign-only capture. Exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "out" / "detect"
KINDS = ("horizontal-scan", "vertical-scan", "brute-force", "beaconing", "ddos", "reflection", "indicator-match")
TARGET = 0.95


@dataclass
class Score:
    findings: int = 0
    true_findings: int = 0
    labels: int = 0
    found_labels: int = 0

    @property
    def precision(self) -> float:
        return self.true_findings / self.findings if self.findings else 1.0

    @property
    def recall(self) -> float:
        return self.found_labels / self.labels if self.labels else 1.0


def run(command: list[str], cwd: Path) -> float:
    """Run one metagate command; its wall time. Exits with its output when it fails."""
    began = time.perf_counter()
    env = {**os.environ, "METAGATE_ACTOR": "bench"}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shlex.join(command)}\n{done.stderr}")
    return time.perf_counter() - began


def pipeline(metagate: list[str], work: Path, capture: str, config: Path | None) -> tuple[Path, dict[str, float]]:
    """collect --policy, then detect; the findings file and the seconds each step took."""
    name = Path(capture).stem
    gated, findings = f"{name}.gated.parquet", f"{name}.findings.jsonl"
    seconds = {
        "collect+gate": run(
            [*metagate, "collect", capture, "--policy", "site.yaml", "-o", gated, "--format", "parquet"], work
        )
    }
    detect = [*metagate, "detect", gated, "--indicators", "indicators.json", "-o", findings]
    if config is not None:
        detect += ["--config", str(config.resolve())]
    seconds["detect"] = run(detect, work)
    return work / findings, seconds


def _micros(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def score(
    findings: list[dict[str, Any]], labels: list[dict[str, Any]], slack_us: int
) -> tuple[dict[str, Score], list[dict[str, Any]], list[dict[str, Any]]]:
    """Scores per kind, the false-positive findings and the missed labels."""
    scores = {kind: Score() for kind in KINDS}
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for label in labels:
        label["_subjects"] = set(label["subjects"])
        by_kind[label["kind"]].append(label)
        scores[label["kind"]].labels += 1
    matched: set[str] = set()
    false = []
    for finding in findings:
        kind = finding["kind"]
        scores[kind].findings += 1
        first, last = _micros(finding["first_seen"]), _micros(finding["last_seen"])
        hits = [
            label["id"]
            for label in by_kind[kind]
            if label["_subjects"] & set(finding["subject"])
            and label["start_us"] - slack_us <= last
            and first <= label["end_us"] + slack_us
        ]
        if hits:
            scores[kind].true_findings += 1
            matched.update(hits)
        else:
            false.append(finding)
    missed = [label for label in labels if label["id"] not in matched]
    for label in labels:
        if label["id"] in matched:
            scores[label["kind"]].found_labels += 1
    return scores, false, missed


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"scenario directory (default {DEFAULT_DIR})")
    parser.add_argument("--config", type=Path, help="detector thresholds (default: the built-in defaults)")
    parser.add_argument("--metagate", default=f"{sys.executable} -m metagate", help="how to run metagate")
    parser.add_argument("--slack", type=float, default=60.0, help="seconds of slack when matching time spans")
    parser.add_argument("--skip-benign", action="store_true", help="score the scenario only")
    parser.add_argument("--verbose", action="store_true", help="list false positives and missed labels")
    args = parser.parse_args(argv)
    work: Path = args.dir
    if not (work / "scenario.pcap").exists() or (not args.skip_benign and not (work / "benign.pcap").exists()):
        print(f"generating the scenarios in {work} ...", flush=True)
        subprocess.run([sys.executable, str(HERE / "make_scenarios.py"), "--out", str(work)], check=True)
    metagate = shlex.split(args.metagate)
    for stale in work.glob("metagate-ledger*"):
        stale.unlink()
    run([*metagate, "audit", "init"], work)
    findings_path, seconds = pipeline(metagate, work, "scenario.pcap", args.config)
    labels = _read_jsonl(work / "labels.jsonl")
    scores, false, missed = score(_read_jsonl(findings_path), labels, int(args.slack * 1e6))
    ok = True
    print(f"scenario.pcap: collect+gate {seconds['collect+gate']:.1f} s, detect {seconds['detect']:.1f} s")
    print(f"{'detector':<18}{'findings':>9}{'true':>6}{'labels':>8}{'found':>7}{'precision':>11}{'recall':>8}")
    for kind, s in scores.items():
        met = s.precision >= TARGET and s.recall >= TARGET
        ok &= met
        print(
            f"{kind:<18}{s.findings:>9}{s.true_findings:>6}{s.labels:>8}{s.found_labels:>7}"
            f"{s.precision:>11.3f}{s.recall:>8.3f}  {'ok' if met else 'BELOW TARGET'}"
        )
    if args.verbose or not ok:
        for finding in false:
            print(
                f"  false positive: {finding['kind']} {finding['subject'][:3]} {finding['first_seen']} "
                f"{finding['counts']} {finding['details']}"
            )
        for label in missed:
            print(f"  missed: {label['id']} {label['kind']} {label['intensity']}")
    if not args.skip_benign:
        benign_path, seconds = pipeline(metagate, work, "benign.pcap", args.config)
        benign = _read_jsonl(benign_path)
        records = pq.ParquetFile(work / "benign.gated.parquet").metadata.num_rows
        kinds: dict[str, int] = defaultdict(int)
        for finding in benign:
            kinds[finding["kind"]] += 1
        print(
            f"benign.pcap: {records:,} gated flows; collect+gate {seconds['collect+gate']:.1f} s, "
            f"detect {seconds['detect']:.1f} s; {len(benign)} findings {dict(kinds) if kinds else ''}"
        )
        ok &= not benign
        if args.verbose:
            for finding in benign[:20]:
                print(
                    f"  benign finding: {finding['kind']} {finding['subject'][:3]} {finding['first_seen']} "
                    f"{finding['counts']} {finding['details']}"
                )
    print("all targets met" if ok else "some targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
