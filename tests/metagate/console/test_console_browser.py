"""The review journey in a real browser: Debian's Chromium driven by Playwright, the console as a process,
medallion on loopback as the partner.

Log in, open a pending indicator, approve it, see that a second approver is required, log in
as the second person, approve, see it published, and find it at the partner's TAXII server.
Screenshots of the main pages go to tests/out/screenshots/ (git-ignored) for a reviewer.
Every request the browser makes is watched: none may leave the console's own address.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from exchange._local_partner import MEDIA_TYPE, LocalPartner
from tests.exchange.conftest import PASSWORD
from tests.metagate.console.site import PASSWORDS, ROLES, Site, build_site, password_hash, write_exchange
from tests.metagate.console.test_console_cli import console, read_until

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def write_console_config(site: Site) -> Path:
    path = site.folder / "console.yaml"
    users = "".join(f"  - {{name: {n}, role: {ROLES[n]}, password_hash: '{password_hash(n)}'}}\n" for n in PASSWORDS)
    path.write_text(
        f"queue: {site.queue.name}\nexchange: {site.exchange.name if site.exchange else ''}\n"
        f"ledger: {site.place.ledger.name}\nledger_key: {site.place.key.name}\nusers:\n{users}",
        encoding="utf-8",
    )
    return path


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")


def partner_holds(medallion: LocalPartner, collection: str, object_id: str) -> list[dict[str, object]]:
    answer = requests.get(
        f"{medallion.api_root}collections/{collection}/objects/{object_id}/",
        params={"match[version]": "all"},
        headers={"Accept": MEDIA_TYPE},
        auth=(medallion.user, PASSWORD),
        timeout=10,
    )
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    objects: list[dict[str, object]] = answer.json().get("objects", [])
    return objects


def test_two_people_approve_in_the_browser_and_the_partner_receives_it(
    tmp_path: Path, browser: Browser, medallion: LocalPartner, collection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METAGATE_TEST_TAXII_PASSWORD", PASSWORD)
    site = build_site(tmp_path, api_root=medallion.api_root, collection=collection)
    write_exchange(site, medallion.api_root, collection)
    config = write_console_config(site)
    item = site.items[0]
    with site.open_queue() as queue:
        queued = queue.item(item)
    indicator = next(o for o in queued.objects if o.type == "indicator")
    assert partner_holds(medallion, collection, indicator.object_id) == []

    with console(tmp_path, "--config", str(config), "--port", "0") as (process, lines):
        port = int(read_until(process, lines, r"console on http://127\.0\.0\.1:(\d+)/").group(1))
        base = f"http://127.0.0.1:{port}"
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        elsewhere: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        page = context.new_page()

        page.goto(f"{base}/queue")
        page.wait_for_url(f"{base}/login?next=/queue")
        shot(page, "login")
        log_in(page, base, "alice")
        assert page.locator("table.items tbody tr").count() == len(site.items)
        shot(page, "queue")

        page.click(f"a[href='/items/{item}'] >> nth=1")  # the summary link of the pending indicator
        page.wait_for_url(f"{base}/items/{item}")
        assert page.inner_text("#state") == "pending"
        shown = page.inner_text("#partner-json")
        assert json.loads(shown) == json.loads(queued.partner_json())
        assert indicator.object_id in shown
        shot(page, "item")

        page.fill("form[action$='/approve'] input[name=reason]", "flows checked against the tap")
        page.click("#approve")
        page.wait_for_selector("#second-approver")
        assert "A second approver is required" in page.inner_text("#second-approver")
        assert page.locator("#approve").count() == 0  # alice cannot approve twice
        shot(page, "item-second-approver-required")
        assert partner_holds(medallion, collection, indicator.object_id) == []

        page.click("text=Log out")
        page.wait_for_url(f"{base}/login")
        log_in(page, base, "bob")
        page.goto(f"{base}/items/{item}")
        assert "alice" in page.inner_text("#approvals")
        page.click("#approve")
        deadline = time.monotonic() + 60
        while page.locator("#published").count() == 0:
            assert time.monotonic() < deadline, "the item was not published within 60 s"
            time.sleep(0.5)
            page.reload()
        assert page.inner_text("#state") == "published"
        shot(page, "item-published")

        held = partner_holds(medallion, collection, indicator.object_id)
        assert [o["modified"] for o in held] == [indicator.version]
        assert held[0] == json.loads(indicator.json)  # the partner holds exactly what the page showed

        page.goto(f"{base}/queue?state=published")
        assert page.locator(f"a[href='/items/{item}']").count() == 2
        page.goto(f"{base}/audit?object={indicator.object_id}")
        assert page.inner_text("#verdict").startswith("Verified")
        assert "review.approve" in page.inner_text("table.ledger")
        shot(page, "audit")
        page.goto(f"{base}/dashboard")
        assert page.locator("#chart-exchange svg").count() == 1
        shot(page, "dashboard")
        context.close()
    assert elsewhere == []
    assert os.path.getsize(SHOTS / "dashboard.png") > 10_000
