"""The review flow through the console's routes: two approvers publish, the partner receives, revoke works."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from exchange import MemoryCollection
from metagate.console._app import backend_of
from tests.metagate.console.conftest import csrf_of
from tests.metagate.console.site import Site


def post(client: FlaskClient, path: str, page: str, **form: str) -> tuple[int, bytes]:
    token = csrf_of(client.get(page).data)
    answer = client.post(path, data={"csrf": token, **form})
    return answer.status_code, answer.data


def test_queue_lists_the_pending_items_with_their_approvals(site: Site, login: Callable[[str], FlaskClient]) -> None:
    page = login("carol").get("/queue").data.decode()
    for item in site.items:
        assert f'href="/items/{item}"' in page
    assert page.count("0/2") == len(site.items)
    assert "Share now" not in page  # an analyst cannot push


def test_item_page_shows_evidence_gate_decisions_and_the_exact_json(
    site: Site, login: Callable[[str], FlaskClient]
) -> None:
    item = site.items[0]
    page = login("carol").get(f"/items/{item}").data.decode()
    with site.open_queue() as queue:
        found = queue.item(item)
    shown = re.search(r'<pre class="json" id="partner-json">(.*?)</pre>', page, re.S)
    assert shown is not None and html.unescape(shown.group(1)).encode() == found.partner_json()
    assert "horizontal-scan" in page and "T1046" in page
    assert "2025-03-01T12:01:00.25Z → 2025-03-01T12:05:00.25Z" in page  # the window sighted
    assert "<th>flows sighted</th><td>31</td>" in page
    assert "jp-acd:classes.domestic-to-domestic=never" in page  # the gate run behind it, by reason
    assert "The agreement asks for 2 approvals" in page
    raw = login("dave").get(f"/items/{item}/partner.json")
    assert raw.data == found.partner_json()


def test_two_approvers_publish_and_the_partner_receives_exactly_the_objects(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    item = site.items[0]
    alice, bob = login("alice"), login("bob")
    status, _ = post(alice, f"/items/{item}/approve", f"/items/{item}", reason="checked the flows")
    assert status == 303
    page = alice.get(f"/items/{item}").data.decode()
    assert "A second approver is required" in page and 'id="approve"' not in page
    assert not partner.stored
    status, _ = post(bob, f"/items/{item}/approve", f"/items/{item}")
    assert status == 303
    assert backend_of(app).sharing.wait_idle(30)
    with site.open_queue() as queue:
        found = queue.item(item)
    assert found.state == "published"
    page = bob.get(f"/items/{item}").data.decode()
    assert "Published: the partner holds every object" in page
    assert "<strong>publish</strong> by bob (approved → published)" in page
    held = {(s.obj["id"], s.version) for s in partner.stored}
    assert {(o.object_id, o.version) for o in found.objects} <= held
    # and the other items, still pending, were not sent
    with site.open_queue() as queue:
        others = [o.object_id for i in site.items[1:] for o in queue.item(i).objects]
    assert not {i for i, _ in held} & set(others)


def test_reject_needs_a_reason_and_stops_the_item(site: Site, login: Callable[[str], FlaskClient]) -> None:
    item = site.items[1]
    carol = login("carol")
    status, _ = post(carol, f"/items/{item}/reject", f"/items/{item}", reason="  ")
    assert status == 400
    status, _ = post(carol, f"/items/{item}/reject", f"/items/{item}", reason="our own red team")
    assert status == 303
    with site.open_queue() as queue:
        assert queue.item(item).state == "rejected"
    status, body = post(login("alice"), f"/items/{item}/approve", f"/items/{item}")
    assert status == 409 and b"cannot approve an item that is rejected" in body


def test_revoke_a_published_item_sends_revoked_versions(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    item = site.items[2]
    alice, bob = login("alice"), login("bob")
    post(alice, f"/items/{item}/approve", f"/items/{item}")
    post(bob, f"/items/{item}/approve", f"/items/{item}")
    assert backend_of(app).sharing.wait_idle(30)
    status, _ = post(alice, f"/items/{item}/revoke", f"/items/{item}", reason="false positive")
    assert status == 303
    assert backend_of(app).sharing.wait_idle(30)
    revoked = [s.obj for s in partner.stored if s.obj.get("revoked")]
    with site.open_queue() as queue:
        found = queue.item(item)
    assert found.state == "revoked"
    assert {r["id"] for r in revoked} == {o.object_id for o in found.objects if o.role == "object"}


def test_without_a_partner_configured_the_approved_objects_wait_in_the_outbox(site: Site) -> None:
    from metagate.console import create_app
    from tests.metagate.console.conftest import log_in

    site.exchange = None
    (site.folder / "metagate-exchange.yaml").unlink()
    app = create_app(site.config())
    try:
        alice, bob = log_in(app.test_client(), "alice"), log_in(app.test_client(), "bob")
        post(alice, "/items/1/approve", "/items/1")
        post(bob, "/items/1/approve", "/items/1")
        page = bob.get("/items/1").data.decode()
        assert "No partner is configured" in page and "Approved: in the outbox" in page
        with site.open_queue() as queue:
            assert queue.item(1).state == "approved"
            assert queue.conn.execute("SELECT count(*) FROM outbox WHERE state = 'queued'").fetchone()[0] >= 2
    finally:
        backend_of(app).sharing.stop()
