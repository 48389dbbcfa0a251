"""Our TAXII server's rules, through Flask's test client: what is served, filters, paging, errors, POST.

The queue is real (enqueue, approve, deliver); the conformance tests with taxii2-client and raw
HTTP against the real server are in test_taxii_server_conformance.py.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from exchange import MemoryAudit, Queue, StixValidator, create_taxii_app, load_exchange_config
from exchange._db import connect
from exchange._envelope import Entry, Query, page, parse_query, select
from policies import ConfigError
from tests.exchange.conftest import Clock
from tests.exchange.served import (
    AMBER,
    HIDDEN,
    INBOUND,
    OTHERS,
    OURS,
    OUTBOUND,
    PARTNER,
    PASSWORDS,
    READER,
    STRANGER,
    WRITER,
    deliver_all,
    enqueue,
    indicator,
    publish,
    server_config,
    server_section,
)

TAXII = "application/taxii+json;version=2.1"
OBJECTS = f"/api1/collections/{OUTBOUND}/objects/"
_ALL = ("id", "type", "version", "spec_version")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def auth(user: str = READER, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": TAXII}


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "exchange.sqlite"
        self.audit = MemoryAudit()
        self.queue = Queue(self.path, self.audit, clock=Clock())
        # three share runs of 10 items of 3 indicators: 90 indicators, added at three moments
        self.items = publish(self.queue, 90, per_item=3, batches=3)
        self.pending = enqueue(self.queue, [indicator(500)], 500)
        self.undelivered = enqueue(self.queue, [indicator(501)], 501)
        self.queue.approve(self.undelivered, "alice")
        app = create_taxii_app(
            server_config(), self.path, audit=lambda: nullcontext(self.audit), validator=StixValidator()
        )
        app.testing = True
        self.client: FlaskClient = app.test_client()

    def get(self, url: str, user: str = READER, **params: Any) -> Any:
        return self.client.get(url, headers=auth(user), query_string=params)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    yield made
    made.queue.close()


def all_pages(site: Site, url: str, key: str = "objects", **params: Any) -> tuple[list[Any], int]:
    found: list[Any] = []
    token = None
    pages = 0
    while True:
        answer = site.get(url, **params, **({"next": token} if token else {}))
        assert answer.status_code == 200, answer.json
        pages += 1
        body = answer.json
        found += body.get(key, [])
        if not body["more"]:
            assert "next" not in body
            return found, pages
        token = body["next"]
        assert pages < 1000


def test_only_published_objects_are_served_as_the_queue_holds_them(site: Site) -> None:
    answer = site.get(OBJECTS, limit=500)
    assert answer.status_code == 200 and answer.content_type == TAXII
    ids = [o["id"] for o in answer.json["objects"]]
    assert len(ids) == 92  # 90 indicators, our identity, the TLP:AMBER marking definition
    assert OURS in ids and AMBER in ids
    assert indicator(500).id not in ids and indicator(501).id not in ids  # pending; approved, not delivered
    raw = answer.get_data()
    for item in site.items:
        for obj in site.queue.item(item).objects:
            assert obj.json in raw  # byte for byte what review show prints
    assert site.queue.item(site.undelivered).state == "approved"


def test_date_added_is_when_the_item_was_published_with_microseconds(site: Site) -> None:
    manifest, _ = all_pages(site, f"/api1/collections/{OUTBOUND}/manifest/", limit=500)
    assert all(STAMP.match(m["date_added"]) for m in manifest)
    assert [m["date_added"] for m in manifest] == sorted(m["date_added"] for m in manifest)
    delivered = {
        r[0]: r[1]
        for r in site.queue.conn.execute("SELECT object_id, max(delivered_at) FROM outbox GROUP BY object_id")
    }
    for record in manifest:
        assert record["date_added"] == delivered[record["id"]].replace("Z", "000Z")
        assert record["media_type"] == "application/stix+json;version=2.1"
    assert len({m["date_added"] for m in manifest}) == 3  # three share runs
    answer = site.get(OBJECTS, limit=5)
    assert answer.headers["X-TAXII-Date-Added-First"] == manifest[0]["date_added"]
    assert answer.headers["X-TAXII-Date-Added-Last"] == manifest[4]["date_added"]


def test_paging_with_next_visits_every_object_once(site: Site) -> None:
    objects, pages = all_pages(site, OBJECTS, limit=7)
    assert pages == 14  # 92 objects, 7 a page
    keys = [(o["id"], o.get("modified", o.get("created"))) for o in objects]
    assert len(keys) == len(set(keys)) == 92


def test_a_next_token_is_bound_to_its_filters_and_cannot_be_forged(site: Site) -> None:
    first = site.get(OBJECTS, limit=5, **{"match[type]": "indicator"}).json
    assert first["more"]
    again = site.get(OBJECTS, limit=5, next=first["next"], **{"match[type]": "indicator"})
    assert again.status_code == 200
    other = site.get(OBJECTS, limit=5, next=first["next"], **{"match[type]": "identity"})
    assert other.status_code == 400 and other.json["title"] == "invalid next"
    forged = site.get(OBJECTS, next="not-a-token")
    assert forged.status_code == 400 and forged.json["http_status"] == "400"


def test_added_after_is_strict(site: Site) -> None:
    manifest, _ = all_pages(site, f"/api1/collections/{OUTBOUND}/manifest/", limit=500)
    moments = sorted({m["date_added"] for m in manifest})
    later = site.get(OBJECTS, limit=500, added_after=moments[0]).json["objects"]
    assert len(later) == len([m for m in manifest if m["date_added"] > moments[0]])
    assert site.get(OBJECTS, added_after=moments[-1]).json == {"more": False}
    assert site.get(OBJECTS, added_after="yesterday").status_code == 400


def test_match_filters(site: Site) -> None:
    wanted = [indicator(3).id, indicator(40).id, OURS]
    found = site.get(OBJECTS, **{"match[id]": ",".join(wanted)}).json["objects"]
    assert sorted(o["id"] for o in found) == sorted(wanted)
    types = site.get(OBJECTS, limit=500, **{"match[type]": "identity,marking-definition"}).json["objects"]
    assert sorted(o["type"] for o in types) == ["identity", "marking-definition"]
    assert site.get(OBJECTS, **{"match[spec_version]": "2.0"}).json == {"more": False}
    assert len(site.get(OBJECTS, limit=500, **{"match[spec_version]": "2.1"}).json["objects"]) == 92
    assert site.get(OBJECTS, **{"match[version]": "sometime"}).status_code == 400


def test_a_revoked_object_is_served_as_its_revoked_version(site: Site) -> None:
    item = site.items[0]
    first = site.queue.item(item).objects[0]
    assert site.get(f"{OBJECTS}{first.object_id}/").json["objects"][0].get("revoked") is None  # read (and kept) before
    site.queue.revoke(item, "alice", "false positive", StixValidator())  # not pushed yet: served at once
    url = f"{OBJECTS}{first.object_id}/"
    latest = site.get(url).json["objects"]
    assert len(latest) == 1 and latest[0]["revoked"] is True
    assert site.get(url, **{"match[version]": "first"}).json["objects"][0]["modified"] == first.version
    everything = site.get(url, **{"match[version]": "all"}).json["objects"]
    assert [o.get("revoked", False) for o in everything] == [False, True]
    exact = site.get(url, **{"match[version]": first.version}).json["objects"]
    assert [o["modified"] for o in exact] == [first.version]
    versions = site.get(f"{url}versions/").json
    assert versions["more"] is False and versions["versions"] == [first.version, latest[0]["modified"]]
    listing = site.get(OBJECTS, limit=500).json["objects"]
    revoked = [o for o in listing if o["id"] == first.object_id]
    assert len(revoked) == 1 and revoked[0]["revoked"] is True  # match[version]=last by default
    # the revoked version is added after every cursor that saw the original
    manifest = site.get(f"/api1/collections/{OUTBOUND}/manifest/", **{"match[id]": first.object_id}).json
    original = site.get(
        f"/api1/collections/{OUTBOUND}/manifest/", **{"match[id]": first.object_id, "match[version]": "first"}
    ).json
    assert manifest["objects"][0]["date_added"] > original["objects"][0]["date_added"]


def test_unknown_object_and_collections(site: Site) -> None:
    unknown = site.get(f"{OBJECTS}indicator--00000000-0000-4000-8000-000000000000/")
    assert unknown.status_code == 404 and unknown.json["title"] == "no such object"
    assert site.get(f"{OBJECTS}{indicator(500).id}/").status_code == 404  # pending: does not exist for the partner
    assert site.get(f"{OBJECTS}{indicator(500).id}/versions/").status_code == 404
    assert site.get("/api1/collections/8d0c8a36-1b32-4b4a-9b49-1d6f2ac0f2a2/objects/").status_code == 404
    assert site.get(f"/api1/collections/{OTHERS}/objects/").status_code == 404  # another partner's
    hidden = site.get(f"/api1/collections/{HIDDEN}/objects/")
    assert hidden.status_code == 403 and hidden.content_type == TAXII
    assert site.get(f"/api1/collections/{INBOUND}/objects/").status_code == 403  # write only
    assert site.get(f"/api1/collections/{OUTBOUND}/objects/", user=WRITER).status_code == 403
    assert site.get("/api2/collections/").status_code == 404


def test_collections_say_what_the_account_may_do(site: Site) -> None:
    listed = site.get("/api1/collections/").json["collections"]
    assert {(c["id"], c["can_read"], c["can_write"]) for c in listed} == {
        (OUTBOUND, True, False),
        (INBOUND, False, True),
    }
    assert site.get(f"/api1/collections/{HIDDEN}/").status_code == 403
    stranger = site.get("/api1/collections/", user=STRANGER).json["collections"]
    assert [c["id"] for c in stranger] == [OTHERS]
    assert site.get(f"/api1/collections/{OTHERS}/objects/", user=STRANGER).json == {"more": False}


def test_discovery_and_api_root(site: Site) -> None:
    discovery = site.get("/taxii2/").json
    assert discovery["api_roots"] == ["http://localhost/api1/"] and discovery["default"] == "http://localhost/api1/"
    root = site.get("/api1/").json
    assert root["versions"] == [TAXII] and root["max_content_length"] == 64_000


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (TAXII, 200),
        ("application/taxii+json", 200),
        ('application/json, application/taxii+json; version="2.1"', 200),
        ("application/json", 406),
        ("application/taxii+json;version=2.0", 406),
        ("application/taxii+json;version=2.1;q=0", 406),
        ("*/*", 406),
        ("", 406),
    ],
)
def test_accept(site: Site, accept: str, status: int) -> None:
    headers = {**auth(), "Accept": accept}
    answer = site.client.get(OBJECTS, headers=headers)
    assert answer.status_code == status
    assert answer.content_type == TAXII
    if status == 406:
        assert answer.json["http_status"] == "406"


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "1.5", ""])
def test_a_bad_limit_is_400(site: Site, limit: str) -> None:
    answer = site.client.get(OBJECTS, headers=auth(), query_string={"limit": limit})
    assert answer.status_code == 400 and answer.json["title"] == "invalid limit"


def test_a_large_limit_is_lowered_to_the_maximum(site: Site) -> None:
    assert len(site.get(OBJECTS, limit=100_000).json["objects"]) == 92  # max_page_size 500
    assert len(site.get(OBJECTS).json["objects"]) == 92  # page_size 100


def test_authentication(site: Site) -> None:
    bare = site.client.get("/taxii2/", headers={"Accept": TAXII})
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Basic")
    assert bare.json["title"] == "authentication required"
    wrong = site.client.get("/taxii2/", headers=auth(READER, "not-the-password"))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    nobody = site.client.get("/taxii2/", headers=auth("nobody", "x"))
    assert nobody.status_code == 401


def sighting(n: int, of: str, **changes: Any) -> dict[str, Any]:
    data = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--00000000-0000-4000-8000-{n:012d}",
        "created": "2025-03-03T10:00:00.000Z",
        "modified": "2025-03-03T10:00:00.000Z",
        "created_by_ref": "identity--11111111-2222-4333-8444-555555555555",
        "sighting_of_ref": of,
        "count": 3,
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    }
    data.update(changes)
    return data


def post(site: Site, body: bytes, user: str = READER, content_type: str = TAXII, collection: str = INBOUND) -> Any:
    headers = {**auth(user), "Content-Type": content_type}
    return site.client.post(f"/api1/collections/{collection}/objects/", data=body, headers=headers)


def test_posted_sightings_are_validated_stored_with_their_marking_and_recorded(site: Site) -> None:
    ours = indicator(3).id
    good = [sighting(n, ours) for n in range(3)]
    broken = sighting(9, ours, count=-5)
    spoofed = sighting(10, ours, created_by_ref=OURS)
    stolen = {**indicator(4).as_dict(), "created_by_ref": "identity--11111111-2222-4333-8444-555555555555"}
    body = json.dumps({"objects": [*good, broken, spoofed, stolen, "text"]}).encode()
    answer = post(site, body, user=WRITER)
    assert answer.status_code == 202 and answer.content_type == TAXII
    status = answer.json
    assert status["status"] == "complete" and status["total_count"] == 7
    assert status["success_count"] == 3 and status["failure_count"] == 4 and status["pending_count"] == 0
    reasons = {f["id"]: f["message"] for f in status["failures"]}
    assert "not valid STIX 2.1" in reasons[broken["id"]] and "count" in reasons[broken["id"]]
    assert "claims to be ours" in reasons[spoofed["id"]]
    assert "an object we shared" in reasons[indicator(4).id]
    assert reasons["?"] == "not a JSON object"
    rows = site.queue.conn.execute("SELECT object_id, tlp, marked FROM inbound ORDER BY object_id").fetchall()
    assert rows == [(s["id"], "green", 1) for s in good]
    refused = site.queue.conn.execute("SELECT count(*) FROM inbound_refused").fetchone()[0]
    assert refused == 4
    entry = [e for e in site.audit.entries if e[1] == "exchange.receive"]
    assert len(entry) == 1 and entry[0][2] == WRITER
    assert entry[0][3]["new"] == 3 and entry[0][3]["refused"] == 4 and entry[0][3]["collection"] == INBOUND
    polled = site.get(f"/api1/status/{status['id']}/", user=WRITER)
    assert polled.status_code == 200 and polled.json == status
    assert site.get(f"/api1/status/{status['id']}/", user=STRANGER).status_code == 404
    again = post(site, json.dumps({"objects": good}).encode(), user=WRITER).json
    assert again["success_count"] == 3 and {s.get("message") for s in again["successes"]} == {"already held"}
    assert site.queue.conn.execute("SELECT count(*) FROM inbound").fetchone()[0] == 3


def test_post_refusals(site: Site) -> None:
    body = json.dumps({"objects": [sighting(1, indicator(3).id)]}).encode()
    assert post(site, body, content_type="application/json").status_code == 415
    assert post(site, body, content_type="application/taxii+json;version=2.0").status_code == 415
    assert post(site, body, collection=OUTBOUND).status_code == 403
    assert post(site, body, collection=OTHERS).status_code == 404
    assert post(site, b"{not json").status_code == 400
    assert post(site, b'{"type": "bundle"}').status_code == 400
    large = json.dumps({"objects": [sighting(n, indicator(3).id) for n in range(200)]}).encode()
    too_large = post(site, large)
    assert too_large.status_code == 413 and too_large.json["http_status"] == "413"
    assert site.queue.conn.execute("SELECT count(*) FROM inbound").fetchone()[0] == 0
    deleted = site.client.delete(f"{OBJECTS}{indicator(3).id}/", headers=auth())
    assert deleted.status_code == 405 and deleted.content_type == TAXII


def write_config(tmp_path: Path, section: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "exchange.yaml"
    data = {
        "partner": PARTNER,
        "producer": {"name": "Test Carrier SOC"},
        "taxii": {"api_root": "http://127.0.0.1:9/api1/", "outbound_collection": "x"},
        "server": section,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_server_section_loads_and_refuses_what_is_wrong(tmp_path: Path) -> None:
    loaded = load_exchange_config(write_config(tmp_path, server_section()))
    assert loaded.server is not None and loaded.server.listen == "127.0.0.1"
    section = server_section()
    section["accounts"][0]["password_hash"] = "hunter2"
    with pytest.raises(
        ConfigError, match=r"exchange\.yaml: server\.accounts\.us-reader\.password_hash: not a password hash"
    ):
        load_exchange_config(write_config(tmp_path, section))
    section = server_section()
    section["accounts"][0]["read"] = [INBOUND]
    with pytest.raises(ConfigError, match="serves inbound: it cannot be read") as caught:
        load_exchange_config(write_config(tmp_path, section))
    assert caught.value.field == "server.accounts.us-reader.read"
    section = server_section()
    section["accounts"][0]["read"] = [OTHERS]
    with pytest.raises(ConfigError, match="partner eu-partner's"):
        load_exchange_config(write_config(tmp_path, section))
    with pytest.raises(ConfigError, match="plain HTTP is for loopback only") as caught:
        load_exchange_config(write_config(tmp_path, {**server_section(), "listen": "0.0.0.0"}))
    assert caught.value.field == "server"
    tls = {**server_section(), "listen": "0.0.0.0", "tls": {"cert": "a.crt", "key": "a.key"}}
    assert load_exchange_config(write_config(tmp_path, tls)).server is not None
    section = server_section()
    section["collections"][0]["id"] = "outbound"
    with pytest.raises(ConfigError, match="UUID") as caught:
        load_exchange_config(write_config(tmp_path, section))
    assert caught.value.field == "server.collections.0.id"


def test_the_app_refuses_a_clear_password_given_in_code(tmp_path: Path) -> None:
    section = server_section()
    section["accounts"][1]["password_hash"] = "writer-password"
    config = server_config(accounts=section["accounts"])
    with pytest.raises(ConfigError, match=r"us-writer\.password_hash: not a password hash"):
        create_taxii_app(config, tmp_path / "q.sqlite")


def test_a_format_1_exchange_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    connect(path).close()
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE taxii_status")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    upgraded = connect(path)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == 2
    assert upgraded.execute("SELECT count(*) FROM taxii_status").fetchone()[0] == 0
    upgraded.close()


def entry(n: int, added: int, version: int = 1, kind: str = "indicator") -> Entry:
    return Entry(f"{kind}--{n}", f"v{version}", kind, "2.1", added, version)


def test_select_chooses_versions_before_added_after() -> None:
    # version 2 was published before version 1 (its item was approved sooner)
    entries = [entry(1, added=20, version=1), entry(1, added=10, version=2), entry(2, added=30)]
    query = parse_query(
        {"added_after": "1970-01-01T00:00:00.000015Z"}, scope="/", default_limit=10, max_limit=10, filters=("version",)
    )
    assert [e.object_id for e in select(entries, query)] == ["indicator--2"]  # never the older version 1
    every = Query(limit=10, versions=("all",))
    assert [e.version for e in select(entries, every)] == ["v2", "v1", "v1"]
    first = Query(limit=10, versions=("first", "last"))
    assert len(select(entries, first)) == 3


def test_page_positions_survive_new_entries() -> None:
    entries = [entry(n, added=n // 3) for n in range(30)]
    seen: list[str] = []
    args = {"limit": "4"}
    while True:
        query = parse_query(args, scope="/", default_limit=100, max_limit=100, filters=_ALL)
        listed = page(select(entries, query), query)
        seen += [e.object_id for e in listed.entries]
        if not listed.more:
            break
        entries.append(entry(100 + len(entries), added=1000 + len(entries)))  # published meanwhile
        assert listed.next is not None
        args = {"limit": "4", "next": listed.next}
    assert len(seen) == len(set(seen)) == len(entries)


def test_an_item_published_later_is_added_after_everything_served_before(site: Site) -> None:
    last = site.get(OBJECTS, limit=500).headers["X-TAXII-Date-Added-Last"]
    deliver_all(site.queue)  # the approved item's object reaches the partner: published
    assert site.queue.item(site.undelivered).state == "published"
    newer = site.get(OBJECTS, added_after=last).json["objects"]
    assert [o["id"] for o in newer] == [indicator(501).id]


def test_a_partner_that_pulls_gets_approved_items_once_they_are_served(site: Site) -> None:
    from exchange import Outbox

    def served_ids() -> set[str]:
        return {o["id"] for o in site.get(OBJECTS, limit=500).json["objects"]}

    assert indicator(501).id not in served_ids()  # approved, but neither pushed nor served yet
    assert Outbox(site.queue, PARTNER).serve(actor="alice") == [site.undelivered]
    assert indicator(501).id in served_ids() and indicator(500).id not in served_ids()  # pending stays home
    assert site.queue.item(site.undelivered).state == "published"
    assert Outbox(site.queue, PARTNER).serve(actor="alice") == []  # each version once
    published = [p for _, kind, _, p in site.audit.entries if kind == "exchange.publish"]
    assert published[-1]["how"] == "served" and published[-1]["items_published"] == [site.undelivered]
