"""The audit view (entries, filters, verification) and the dashboard (its charts and their figures)."""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from exchange import MemoryCollection, Puller
from metagate.console._app import backend_of
from metagate.console._dashboard import gate_drops, is_drop
from tests.exchange.conftest import exchange_config
from tests.exchange.test_pull_memory import indicator
from tests.metagate.console.conftest import csrf_of
from tests.metagate.console.site import Site

SVG = "{http://www.w3.org/2000/svg}"


def approve_twice(app: Flask, login: Callable[[str], FlaskClient], item: int) -> None:
    for name in ("alice", "bob"):
        client = login(name)
        client.post(f"/items/{item}/approve", data={"csrf": csrf_of(client.get(f"/items/{item}").data), "reason": name})
    assert backend_of(app).sharing.wait_idle(30)


def rows(page: str) -> list[tuple[str, str, str]]:
    """(seq, kind, person) of each ledger row shown."""
    found = re.findall(r"<tr class=\"[^\"]*\">\s*<td>(\d+).*?<code>([a-z._]+)</code></td><td>([^<]*)</td>", page, re.S)
    return [(s, k, p) for s, k, p in found]


def test_audit_view_verifies_and_filters_by_person_object_and_partner(
    app: Flask, site: Site, login: Callable[[str], FlaskClient]
) -> None:
    approve_twice(app, login, 1)
    dave = login("dave")
    page = dave.get("/audit").data.decode()
    assert "Verified: all" in page
    kinds = [k for _, k, _ in rows(page)]
    assert kinds[0] == "exchange.share" and "review.approve" in kinds and kinds[-1] == "ledger.init"  # newest first
    by_bob = rows(dave.get("/audit?person=bob").data.decode())
    assert by_bob and {p for _, _, p in by_bob} == {"bob"}
    with site.open_queue() as queue:
        indicator = next(o.object_id for o in queue.item(1).objects if o.type == "indicator")
    on_object = {k for _, k, _ in rows(dave.get(f"/audit?object={indicator}").data.decode())}
    assert {"review.queue", "review.approve", "exchange.publish"} <= on_object
    assert "gate.run" not in on_object
    assert rows(dave.get("/audit?partner=nobody").data.decode()) == []
    partner_rows = rows(dave.get("/audit?partner=us-partner&kind=review.approve").data.decode())
    assert [p for _, _, p in partner_rows] == ["bob", "alice"]


def test_audit_view_names_a_tampered_entry(app: Flask, site: Site, login: Callable[[str], FlaskClient]) -> None:
    dave = login("dave")
    assert "Verified: all" in dave.get("/audit").data.decode()
    conn = sqlite3.connect(site.place.ledger)
    conn.execute("DROP TRIGGER ledger_no_update")
    conn.execute("UPDATE ledger SET actor = 'mallory' WHERE seq = 2")
    conn.commit()
    conn.close()
    page = dave.get("/audit").data.decode()
    assert "FAILED verification" in page and "entry 2: edited" in page
    assert '<tr class="badrow">' in page


def test_dashboard_draws_shared_received_kinds_and_gate_drops(
    app: Flask, site: Site, login: Callable[[str], FlaskClient]
) -> None:
    approve_twice(app, login, 1)
    inbound = MemoryCollection()
    for n in range(5):
        inbound.add_raw(indicator(n))
    with site.open_queue() as queue:
        Puller(queue, inbound, exchange_config(), sleep=lambda s: None).run(site.folder / "feed.jsonl")
        received_on = queue.conn.execute("SELECT substr(received_at, 1, 10) FROM inbound LIMIT 1").fetchone()[0]
    page = login("carol").get("/dashboard").data.decode()
    charts = {
        name: ET.fromstring(re.search(rf'id="chart-{name}">(<svg.*?</svg>)', page, re.S).group(1))  # type: ignore[union-attr]
        for name in ("exchange", "kinds", "drops", "clauses")
    }

    def labels(name: str) -> list[str]:
        return [t.text or "" for t in charts[name].iter(f"{SVG}title")]

    with site.open_queue() as queue:
        delivered = queue.conn.execute("SELECT count(*) FROM outbox WHERE state = 'delivered'").fetchone()[0]
    assert delivered >= 2
    assert any(t.startswith("shared ") and t.endswith(f": {delivered}") for t in labels("exchange"))
    assert f"received {received_on}: 5" in labels("exchange")
    assert "horizontal-scan: 3" in labels("kinds") and "refused (any kind): 1" in labels("kinds")
    drops = labels("drops")
    assert "domestic-to-domestic: never: 2" in drops
    assert not any(d.startswith("approval ") for d in drops)  # what passed is no drop
    assert "<td>jp-acd:classes.domestic-to-domestic=never</td>" in page  # the full clause beside the chart
    assert "us-partner:min_confidence=60: 1" in labels("clauses")
    assert "https://" not in page.replace("https://attack.mitre.org", "")


def test_which_gate_counts_are_drops() -> None:
    assert is_drop("scope", "jp-acd:classes.domestic-to-domestic=never")
    assert is_drop("scope", "jp-acd:classes.transit=approval, none covers the flow")
    assert is_drop("pseudonymize", "dropped: no key in force at the flow's start")
    assert not is_drop("scope", "approval A-1 (committee)")
    assert not is_drop("scope", "jp-acd:classes.foreign-to-domestic=always")
    assert not is_drop("allowlist", "field dns_qname not allowed")
    runs = [{"counts": {"scope": {"x=never": 3, "approval A": 9}}}, {"counts": {"scope": {"x=never": 2}}}]
    assert gate_drops(runs) == {"x=never": 5}
