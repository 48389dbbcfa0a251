"""The report over several days: the site's real entries signed again into a ledger spread over three days.

Each entry keeps its kind, actor and payload as the commands wrote them; only the time it is
recorded at moves (the ledger's clock), so the period filter and the charts by day have days
to tell apart.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from policies import Ledger, write_public_key, write_signing_key
from tests.metagate.report_site import Site, metagate

DAYS = (date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4))


def spread(site: Site, folder: Path) -> tuple[Path, Path, list[tuple[date, str, dict[str, Any]]]]:
    """The site's entries on DAYS: up to the first share on day 1, up to the pull on day 2, the rest on day 3."""
    with Ledger(site.ledger, None) as source:
        entries = list(source.entries())
    day, placed = 0, []
    for entry in entries:
        placed.append((DAYS[day], entry.kind, entry.payload))
        if (entry.kind == "exchange.share" and day == 0) or entry.kind == "exchange.pull":
            day = min(day + 1, 2)
    key = folder / "replay.key"
    signer = write_signing_key(key)
    write_public_key(key.with_name(key.name + ".pub"), signer.public_key())
    moments = iter(datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=9, seconds=n)
                   for n, (d, _, _) in enumerate(placed))  # fmt: skip
    with Ledger(folder / "replay.sqlite", signer, clock=lambda: next(moments)) as replay:
        for entry, (_, kind, payload) in zip(entries, placed, strict=True):
            replay.append(kind, entry.actor, payload)
    return folder / "replay.sqlite", key, placed


def report(folder: Path, ledger: Path, key: Path, first: str, last: str) -> dict[str, Any]:
    out = folder / f"{first}_{last}.json"
    done = metagate(folder, "report", "--from", first, "--to", last, "--ledger", str(ledger), "--ledger-key",
                    str(key), "-o", str(out.with_suffix(".html")), "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_each_day_counts_only_its_own_entries(site: Site, tmp_path: Path) -> None:
    ledger, key, placed = spread(site, tmp_path)
    whole = report(tmp_path, ledger, key, "2026-11-01", "2026-11-30")
    assert whole["ledger"]["entries_in_period"] == len(placed)
    assert [d["day"] for d in whole["runs_by_day"]] == ["2026-11-02", "2026-11-04"]
    assert whole["exchange"]["by_day"] == [
        {"day": "2026-11-02", "shared": "<10", "received": 0},
        {"day": "2026-11-03", "shared": "<10", "received": 12},
    ]
    # 8 and 2 shared: only <10 counts beside a printed total of 10 would be narrowed by it, so the total
    # is withheld, and with it the partner's own total (the same 10), else that one gives it away
    assert whole["exchange"]["objects_shared"] == "withheld"
    assert whole["exchange"]["partners"][0]["objects_delivered"] == "withheld"

    middle = report(tmp_path, ledger, key, "2026-11-03", "2026-11-03")
    kinds = sorted({kind for day, kind, _ in placed if day == DAYS[1]})
    assert sorted(middle["ledger"]["kinds"]) == kinds and "gate.run" not in kinds
    assert middle["ledger"]["entries_in_period"] == sum(day == DAYS[1] for day, _, _ in placed)
    assert middle["collection"]["gate_runs"] == 0 and middle["collection"]["flows_collected"] == 0
    partner = middle["exchange"]["partners"][0]
    assert partner["revocations"] == 1 and partner["pull_runs"] == 1 and partner["objects_received_new"] == 12
    assert partner["items_queued"] == 0 and partner["objects_delivered"] == "<10"  # the two revocations
    assert middle["verification"]["ok"] is True

    last = report(tmp_path, ledger, key, "2026-11-04", "2026-11-04")
    assert last["collection"]["gate_runs"] == 2 and last["retention"]["records_deleted"] == 18
    assert {r["mode"] for r in last["collection"]["runs"]} == {"collect", "gate"}
    assert last["exchange"]["partners"] == []
    html = (tmp_path / "2026-11-01_2026-11-30.html").read_text()
    assert 'aria-label="Object versions shared and received by day"' in html and "2026-11-03" in html
