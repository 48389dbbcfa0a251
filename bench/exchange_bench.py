"""The exchange's speed: packaging with validation, and pushing 10,000 objects to medallion.

    python bench/exchange_bench.py [--findings N] [--push N] [--skip-push]

1. Packaging: N findings (default 2,000; each a scan from its own address) into STIX 2.1 for
   the test partner, every object checked with stix2-validator (default mode) and queued in
   SQLite, as ``metagate package`` does. Printed: findings, indicators and objects a second;
   beside it the validator alone, prepared (exchange._validate) and stock, on the same objects.
2. Pushing: findings enough for N objects (default 10,000) approved and pushed by ``Sharer``
   through taxii2-client to medallion on loopback (exchange._local_partner) with its default
   limits: 100 objects a page, 1 MiB a request. Printed: requests, largest request, objects a
   second; medallion's status resources must report every object taken, and a random sample is
   asked back by id (its manifest, paged at 100).

Needs the test extra (medallion). Writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors import Finding, FindingKind, Role  # noqa: E402
from exchange import (  # noqa: E402
    ExchangeConfig,
    LedgerAudit,
    MemoryAudit,
    Packager,
    Queue,
    Sharer,
    StixValidator,
    TaxiiTransport,
    package_findings,
)
from exchange._local_partner import LocalPartner  # noqa: E402
from policies import Ledger, load_policy  # noqa: E402

POLICY = ROOT / "tests" / "data" / "policies" / "site-jp.yaml"
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def findings(n: int, offset: int = 0) -> list[Finding]:
    made = []
    for i in range(offset, offset + n):
        start = T0 + timedelta(seconds=i)
        address = f"{100 + i // 62_500}.{(i // 250) % 250 + 1}.{i % 250 + 1}.7"
        made.append(
            Finding(
                id=f"finding--{i:08d}-0000-5000-8000-000000000000",
                kind=FindingKind.HORIZONTAL_SCAN,
                technique="T1046",
                technique_name="Network Service Discovery",
                subject=(address,),
                subject_role=Role.SCANNER,
                subject_total=1,
                targets=("57.1.2.3",),
                target_total=30,
                protocols=("tcp",),
                ports=(22,),
                window_start=start,
                window_end=start + timedelta(minutes=10),
                first_seen=start,
                last_seen=start + timedelta(minutes=3),
                counts={"flows": 30},
                evidence=("1:x",),
                evidence_total=30,
                confidence=80,
            )
        )
    return made


def config(api_root: str = "http://127.0.0.1:9/api1/", outbound: str = "x", user: str | None = None) -> ExchangeConfig:
    return ExchangeConfig.model_validate(
        {
            "partner": "us-partner",
            "producer": {"name": "Bench Carrier SOC"},
            "taxii": {
                "api_root": api_root,
                "outbound_collection": outbound,
                "user": user,
                "max_objects_per_request": 1000,
                "status_interval": 0.05,
            },
        }
    )


STOCK = """
import json, sys, time
from stix2validator import ValidationOptions, validate_instance
objects = json.load(sys.stdin)
started = time.perf_counter()
for obj in objects:
    assert validate_instance(obj, ValidationOptions()).is_valid
print(len(objects) / (time.perf_counter() - started))
"""


def bench_package(n: int, folder: Path) -> None:
    policy = load_policy(POLICY)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ledger = Ledger(folder / "ledger.sqlite", Ed25519PrivateKey.generate())  # signed, as metagate package does
    queue = Queue(folder / "package.sqlite", LedgerAudit(ledger))
    packager = Packager(policy, config(), queue)
    batch = findings(n)
    started, cpu = time.perf_counter(), time.process_time()
    run = package_findings(batch, packager, queue, actor="bench")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    objects = [json.loads(r[0]) for r in queue.conn.execute("SELECT json FROM objects WHERE role = 'object'")]
    indicators = sum(1 for o in objects if o["type"] == "indicator")
    print(
        f"packaging: {n:,} findings -> {indicators:,} indicators + {len(objects) - indicators:,} sightings, "
        f"validated and queued, in {seconds:.2f} s"
    )
    print(
        f"  {n / seconds:,.0f} findings/s, {indicators / seconds:,.0f} indicators/s, "
        f"{len(objects) / seconds:,.0f} objects/s (target: 2,000 indicators/s)"
    )
    print(f"  on CPU time (less sensitive to a shared machine): {indicators / cpu:,.0f} indicators per CPU-second")
    assert run.outcomes()["queued"] == n
    sample = objects[:600]
    validator = StixValidator()
    started = time.perf_counter()
    for obj in sample:
        validator.check(obj)
    prepared = len(sample) / (time.perf_counter() - started)
    done = subprocess.run(
        [sys.executable, "-c", STOCK], input=json.dumps(sample[:300]), capture_output=True, text=True, check=True
    )
    print(
        f"  stix2-validator alone on these objects: {prepared:,.0f} objects/s prepared, "
        f"{float(done.stdout):,.0f} objects/s stock"
    )
    queue.close()
    ledger.close()


def bench_push(n: int, folder: Path) -> None:
    wanted = (n - 2 + 1) // 2  # an indicator and a sighting a finding, plus identity and marking
    with LocalPartner(folder / "partner", max_page_size=100, max_content_length=1_048_576) as partner:
        policy = load_policy(POLICY)
        settings = config(partner.api_root, partner.collection("outbound"), partner.user)
        queue = Queue(folder / "push.sqlite", MemoryAudit())
        packager = Packager(policy, settings, queue)
        run = package_findings(findings(wanted, 100_000), packager, queue, actor="bench")
        assert run.outcomes()["queued"] == wanted, run.clauses()
        items = run.items
        queue.auto_approve(items, "bench")
        total = queue.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        sizes: list[int] = []
        transport = TaxiiTransport(settings.taxii, settings.taxii.outbound_collection, password=partner.password)
        original = transport.add_objects

        def measured(body: bytes) -> Any:
            sizes.append(len(body))
            return original(body)

        transport.add_objects = measured  # type: ignore[method-assign]
        started = time.perf_counter()
        report = Sharer(queue, transport, settings.taxii, "us-partner", "bench").run()
        seconds = time.perf_counter() - started
        print(
            f"pushing: {total:,} objects to medallion in {report.requests} requests (largest {max(sizes):,} bytes, "
            f"limit 1,048,576) in {seconds:.1f} s: {total / seconds:,.0f} objects/s; "
            f"{len(report.published):,} items published, {report.remaining} left"
        )
        # medallion's manifest is quadratic in the collection's size (10,000 objects: minutes a page,
        # and its page tokens expire after 30 s), so the check asks about a random sample, by id
        rows = queue.conn.execute("SELECT object_id, version FROM outbox ORDER BY random() LIMIT 400").fetchall()
        started = time.perf_counter()
        held = transport.present([r[0] for r in rows])
        found = sum(1 for r in rows if (r[0], r[1]) in held)
        print(
            f"  medallion reported {report.delivered:,} of {total:,} taken; a sample of {len(rows)} asked back "
            f"by id ({time.perf_counter() - started:.1f} s): {found} of {len(rows)} held"
        )
        transport.close()
        queue.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=2_000)
    parser.add_argument("--push", type=int, default=10_000)
    parser.add_argument("--skip-push", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_package(args.findings, Path(tmp))
        if not args.skip_push:
            bench_push(args.push, Path(tmp))


if __name__ == "__main__":
    main()
