"""``metagate report`` over a ledger the real commands wrote: figures, suppression, no personal data, tampering."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.canaries import assert_no_canary
from tests.metagate.report_site import PARTNER_ADDRESS, PEOPLE, SCANNERS, Site, metagate

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture(scope="module")
def today(site: Site) -> dict[str, Any]:
    done, doc = site.report("--from", TODAY, "--to", TODAY)
    assert done.returncode == 0, done.stderr
    return doc


def test_figures_are_the_ledgers(site: Site, today: dict[str, Any]) -> None:
    entries = site.entries()
    runs = [e["payload"] for e in entries if e["kind"] == "gate.run"]
    collected = sum(p["records_in"] for p in runs)
    kept = sum(p["records_out"] for p in runs)
    collection = today["collection"]
    assert collection["gate_runs"] == len(runs) == 3
    assert (collection["flows_collected"], collection["flows_kept"]) == (collected, kept) == (273, 258)
    assert collection["flows_dropped"] == collected - kept
    assert collection["packets"] == sum(p.get("packets", 0) for p in runs)
    assert [r["seq"] for r in collection["runs"]] == [e["seq"] for e in entries if e["kind"] == "gate.run"]
    assert [r["mode"] for r in collection["runs"]] == ["run", "collect", "gate"]

    gate = today["gate"]
    allowed = {r["clause"]: r["flows"] for r in gate["allowed"]}
    assert allowed == {"approval OC-2024-017 (Cyber Communications Information Oversight Committee)": kept}
    keys = {(p["method"], p["key_id"]): p["flows"] for p in gate["pseudonymized"]}
    assert keys == {("cryptopan", "k2025"): 240, ("cryptopan", "k2024"): 18}
    assert [r["clause"] for r in gate["dropped"]] == [
        "jp-acd:classes.domestic-to-domestic=never",
        "jp-acd:classes.foreign-to-foreign=approval, none covers the flow",
    ]

    partner = today["exchange"]["partners"][0]
    published = [e["payload"] for e in entries if e["kind"] == "exchange.publish"]
    assert partner["partner"] == "us-partner"
    assert partner["objects_delivered"] == sum(len(p["objects"]) for p in published) == 10
    assert (partner["items_queued"], partner["items_published"], partner["approvals_required"]) == (6, 3, {"2": 6})
    reviewed = ("approvals", "items_approved", "rejections", "revocations")
    assert [partner[name] for name in reviewed] == [6, 3, 1, 1]
    assert partner["items_auto_approved"] == 0 and partner["share_runs"] == 2 and partner["pull_runs"] == 1
    assert partner["objects_received_new"] == 12 == today["exchange"]["objects_received_new"]
    assert today["exchange"]["by_day"] == [{"day": TODAY, "shared": 10, "received": 12}]

    deleted = [e["payload"]["records_deleted"] for e in entries if e["kind"] == "retention.apply"]
    assert today["retention"]["records_deleted"] == sum(deleted) == 18 and today["retention"]["passes"] == 1

    verification, ledger = today["verification"], today["ledger"]
    init = next(e for e in entries if e["kind"] == "ledger.init")
    assert verification["ok"] is True and verification["problems"] == []
    assert verification["head"] == f"{entries[-1]['seq']}:{entries[-1]['hash']}"
    assert verification["public_key_ids"] == [init["payload"]["key_id"]] == ledger["signing_key_ids"]
    assert ledger["entries_in_period"] == len(entries) and ledger["last_hash"] == entries[-1]["hash"]
    assert sum(ledger["kinds"].values()) == len(entries)
    html = (site.work / "report.html").read_text()
    assert "Ledger verified" in html and verification["head"] in html and "OC-2024-017" in html


def test_small_counts_are_suppressed_and_cannot_be_worked_out(site: Site, today: dict[str, Any]) -> None:
    runs = {r["mode"]: r["flows_collected"] for r in today["collection"]["runs"]}
    # the canary runs have 9 flows each: <10; the big run is withheld, else 273 - 255 = 18 gives both away
    assert runs == {"run": "withheld", "collect": "<10", "gate": "<10"}
    dropped = {r["clause"]: r["flows"] for r in today["gate"]["dropped"]}
    assert list(dropped.values()) == ["withheld", "<10"]  # 12 and 3 of 15: the 3 alone would be 15 - 12
    figures = list(_figures(today))
    assert len(figures) > 20 and "<10" in figures and "withheld" in figures
    assert not [v for v in figures if isinstance(v, int) and 0 < v < 10]
    html = (site.work / "report.html").read_text()
    assert "&lt;10" in html and "withheld" in html
    chart = html.split('aria-label="Flows dropped by reason"')[1].split("</svg>")[0]
    assert ">withheld<" in chart and ">&lt;10<" in chart  # the chart says so too

    done, strict = site.report("--from", TODAY, "--to", TODAY, "--k", "20", name="k20")
    assert done.returncode == 0, done.stderr
    keys = {p["key_id"]: p["flows"] for p in strict["gate"]["pseudonymized"]}
    assert keys["k2024"] == "<20" and strict["k"] == 20 and strict["retention"]["records_deleted"] == "<20"
    assert "from 1 to 19 are printed <20" in strict["suppression"]


DATA = {"packets", "flows_collected", "flows_kept", "flows_dropped", "flows", "flows_passed_scope",
        "kept_without_pseudonym", "values", "packets_read", "packets_written", "payload_bytes_removed",
        "records_deleted", "records_kept", "objects_delivered", "objects_refused_by_partner", "objects_received",
        "objects_received_new", "objects_received_invalid", "objects_shared", "shared", "received"}  # fmt: skip


def _figures(value: Any, key: str = "") -> Iterator[Any]:
    """Every count of data in the document, wherever it stands (counts of acts are printed exactly)."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _figures(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _figures(item, key)
    elif key in DATA:
        yield value


def test_no_address_name_pattern_or_content_in_the_report(site: Site, today: dict[str, Any]) -> None:
    forbidden = [*SCANNERS, "192.0.2.", "203.0.113.", "198.18.", "57.12.", PARTNER_ADDRESS, "45.9.",
                 *PEOPLE, "operator", "ipv4-addr", "[ipv4", "indicator--", "identity--", "sighting--", "finding--",
                 "red team", "checked by", "own test", "scan.pcap", "canary", "store/", str(site.work)]  # fmt: skip
    for name in ("report.html", "report.json"):
        data = (site.work / name).read_bytes()
        assert_no_canary(data, name)
        text = data.decode().lower()
        leaked = [word for word in forbidden if word.lower() in text]
        assert not leaked, f"{name} holds {leaked}"
    assert "<script" not in (site.work / "report.html").read_text()  # nothing runs, nothing is fetched
    assert "http://" not in (site.work / "report.html").read_text().replace("http://www.w3.org/2000/svg", "")


def _edited(site: Site, folder: Path, statement: str, *args: object) -> tuple[int, dict[str, Any], str, str]:
    """The site's ledger copied into ``folder`` and changed by one SQL statement, and its report."""
    for name in ("metagate-ledger.sqlite", "metagate-ledger.key", "metagate-ledger.key.pub"):
        shutil.copy(site.work / name, folder / name)
    db = sqlite3.connect(folder / "metagate-ledger.sqlite")
    db.execute("DROP TRIGGER ledger_no_update")  # as someone with the file would
    db.execute("DROP TRIGGER ledger_no_delete")
    db.execute(statement, args)
    db.commit()
    db.close()
    html, doc = folder / "t.html", folder / "t.json"
    done = metagate(folder, "report", "--from", TODAY, "--to", TODAY, "-o", str(html), "--json", str(doc))
    return done.returncode, json.loads(doc.read_text()), html.read_text(), done.stderr


def test_an_edited_entry_fails_verification_and_the_report_names_it(site: Site, tmp_path: Path) -> None:
    payload = next(e for e in site.entries() if e["seq"] == 2)["payload"]
    payload["records_in"] = 100_000
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    status, doc, page, stderr = _edited(site, tmp_path, "UPDATE ledger SET payload = ? WHERE seq = 2", text)
    assert status == 1 and "FAILED verification" in stderr
    found = doc["verification"]
    assert found["ok"] is False and [(p["seq"], p["kind"]) for p in found["problems"]] == [(2, "edited")]
    assert "Ledger verification FAILED" in page and "entry 2 was changed after it was signed" in page
    assert doc["collection"]["flows_collected"] == 100_000 + 18  # what the file now says, under the red banner


def test_a_deleted_entry_is_named(site: Site, tmp_path: Path) -> None:
    status, doc, page, _ = _edited(site, tmp_path, "DELETE FROM ledger WHERE seq = 17")  # the first publication
    assert status == 1 and doc["verification"]["ok"] is False
    assert [(p["seq"], p["kind"]) for p in doc["verification"]["problems"]] == [(17, "deleted")]
    assert "entry 17 is missing" in page


def test_an_unreadable_entry_stops_the_figures_and_says_so(site: Site, tmp_path: Path) -> None:
    status, doc, page, _ = _edited(site, tmp_path, "UPDATE ledger SET payload = 'not json' WHERE seq = 20")
    assert status == 1 and doc["verification"]["ok"] is False
    assert 20 in [p["seq"] for p in doc["verification"]["problems"]]
    assert "entry 20" in doc["ledger"]["unread"] and doc["ledger"]["last_seq"] == 19
    assert "Reading stopped early" in page


def test_the_period_filter(site: Site) -> None:
    done, doc = site.report("--from", "2020-01-01", "--to", "2020-01-31", name="old")
    assert done.returncode == 0, done.stderr
    assert doc["period"] == {"from": "2020-01-01", "to": "2020-01-31", "timezone": "UTC"}
    assert doc["ledger"]["entries_in_period"] == 0 and doc["collection"]["flows_collected"] == 0
    assert doc["exchange"]["partners"] == [] and doc["verification"]["ok"] is True  # the whole ledger is verified
    assert "none in the period" in (site.work / "old.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01", "--to", "2026-12-31"), "--from: '2026-13-01' is no date"),
        (("--from", "yesterday", "--to", "2026-12-31"), "--from: 'yesterday' is no date"),
        (("--from", "2026-12-01", "--to", "2026-1-3"), "--to: '2026-1-3' is no date"),
        (("--from", "2026-12-02", "--to", "2026-12-01"), "--to: 2026-12-01 is before --from 2026-12-02"),
        (("--from", "2026-12-01", "--to", "2026-12-01", "--k", "1"), "--k: must be at least 2"),
    ],
)
def test_bad_dates_and_options_are_named(site: Site, args: tuple[str, ...], message: str) -> None:
    done = metagate(site.work, "report", *args, "-o", "bad.html")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (site.work / "bad.html").exists()


def test_no_output_or_no_key_is_an_error(site: Site, tmp_path: Path) -> None:
    done = metagate(site.work, "report", "--from", TODAY, "--to", TODAY)
    assert done.returncode == 2 and "-o report.html" in done.stderr
    shutil.copy(site.ledger, tmp_path / "metagate-ledger.sqlite")
    done = metagate(tmp_path, "report", "--from", TODAY, "--to", TODAY, "-o", "r.html")
    assert done.returncode == 2 and "metagate-ledger.key.pub" in done.stderr


def test_a_head_noted_earlier_is_checked(site: Site, today: dict[str, Any]) -> None:
    head = today["verification"]["head"]
    done, doc = site.report("--from", TODAY, "--to", TODAY, "--head", head, name="head")
    assert done.returncode == 0 and doc["verification"]["expected_head"] == head, done.stderr
    seq = int(head.split(":")[0])
    done, doc = site.report("--from", TODAY, "--to", TODAY, "--head", f"{seq + 3}:{'0' * 64}", name="cut")
    assert done.returncode == 1 and [p["kind"] for p in doc["verification"]["problems"]] == ["deleted"]
    assert "but its head was noted as entry" in doc["verification"]["problems"][0]["message"]
    done = metagate(site.work, "report", "--from", TODAY, "--to", TODAY, "--head", "x:y", "-o", "h.html")
    assert done.returncode == 2 and "head: not SEQ:HASH" in done.stderr
