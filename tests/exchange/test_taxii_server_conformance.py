"""Our TAXII server, really listening on 127.0.0.1, read by taxii2-client and by raw HTTP.

2,500 published indicators (250 items of 10, published in five share runs, one item then
revoked), served by :class:`exchange.TaxiiServer` in a thread on a free port. taxii2-client
(a client we did not write) discovers, pages, filters and posts; ``http.client`` sends what a
careful client never would. TLS is checked with a self-signed certificate made here.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from exchange import MemoryAudit, Queue, StixValidator, TaxiiServer, TlsFiles, create_taxii_app, tls_context
from tests.exchange.conftest import Clock
from tests.exchange.served import HIDDEN, INBOUND, OUTBOUND, PASSWORDS, READER, indicator, publish, server_config
from tests.exchange.test_taxii_server_app import sighting
from tests.tlscerts import self_signed as tls_files

TAXII = "application/taxii+json;version=2.1"
COUNT = 2_500
SERVED = COUNT + 2  # and our identity, the TLP:AMBER marking definition


class Running:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "exchange.sqlite"
        self.audit = MemoryAudit()
        self.queue = Queue(self.path, self.audit, clock=Clock())
        self.items = publish(self.queue, COUNT, per_item=10, batches=5)
        self.revoked = self.queue.item(self.items[7]).objects[0]
        self.queue.revoke(self.items[7], "alice", "false positive", StixValidator())
        app = create_taxii_app(server_config(), self.path, audit=lambda: nullcontext(self.audit))
        self.server = TaxiiServer(app, "127.0.0.1", 0).start()
        self.url = self.server.url

    def collection(self, ident: str = OUTBOUND, user: str = READER) -> Collection:
        return Collection(f"{self.url}/api1/collections/{ident}/", user=user, password=PASSWORDS[user])

    def raw(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        return answer.status, dict(answer.getheaders()), json.loads(data) if data else None


def basic(user: str = READER, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": TAXII}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    made = Running(tmp_path_factory.mktemp("taxii-server"))
    yield made
    made.server.stop()
    made.queue.close()


def test_discovery_api_root_and_collections_through_taxii2_client(running: Running) -> None:
    server = Server(f"{running.url}/taxii2/", user=READER, password=PASSWORDS[READER])
    assert server.title == "metagate TAXII 2.1 server"
    assert [root.url for root in server.api_roots] == [f"{running.url}/api1/"]
    root = server.default
    assert root is not None and root.max_content_length == 64_000 and root.versions == [TAXII]
    listed = {c.id: (c.can_read, c.can_write) for c in root.collections}
    assert listed == {OUTBOUND: (True, False), INBOUND: (False, True)}


def test_paging_through_thousands_of_objects(running: Running) -> None:
    collection = running.collection()
    pages = list(as_pages(collection.get_objects, per_request=100))
    assert len(pages) == 26
    objects = [o for p in pages for o in p.get("objects", [])]
    assert len(objects) == SERVED
    assert len({o["id"] for o in objects}) == SERVED  # each object once, its latest version
    revoked = [o for o in objects if o["id"] == running.revoked.object_id]
    assert len(revoked) == 1 and revoked[0]["revoked"] is True
    # a limit above the server's maximum (500) is lowered; taxii2-client follows
    big = list(as_pages(collection.get_objects, per_request=2_000))
    assert [len(p.get("objects", [])) for p in big] == [500] * 5 + [SERVED - 2_500]


def test_manifest_pages_and_added_after(running: Running) -> None:
    collection = running.collection()
    manifest = [r for p in as_pages(collection.get_manifest, per_request=250) for r in p.get("objects", [])]
    assert len(manifest) == SERVED
    moments = sorted({r["date_added"] for r in manifest})
    assert len(moments) >= 6  # five share runs (a run delivers 500 objects a call), then the revocation
    after = [
        r
        for p in as_pages(collection.get_manifest, per_request=250, added_after=moments[2])
        for r in p.get("objects", [])
    ]
    assert len(after) == len([r for r in manifest if r["date_added"] > moments[2]]) > 0
    objects = [
        o
        for p in as_pages(collection.get_objects, per_request=300, added_after=moments[-2])
        for o in p.get("objects", [])
    ]
    item = {o.object_id for o in running.queue.item(running.items[7]).objects if o.role == "object"}
    assert {o["id"] for o in objects} == item and len(objects) == 10  # the revoked versions, added last
    assert all(o["revoked"] for o in objects)


def test_match_filters_through_taxii2_client(running: Running) -> None:
    collection = running.collection()
    wanted = [indicator(n).id for n in (5, 1234, 2499)]
    found = collection.get_objects(id=wanted)["objects"]
    assert sorted(o["id"] for o in found) == sorted(wanted)
    kinds = collection.get_objects(type=["identity", "marking-definition"])["objects"]
    assert sorted(o["type"] for o in kinds) == ["identity", "marking-definition"]
    every = collection.get_objects(id=running.revoked.object_id, version="all")["objects"]
    assert [o.get("revoked", False) for o in every] == [False, True]
    first = collection.get_objects(id=running.revoked.object_id, version="first")["objects"]
    assert first[0]["modified"] == running.revoked.version
    assert collection.get_objects(spec_version="2.0") == {"more": False}


def test_object_and_versions_through_taxii2_client(running: Running) -> None:
    collection = running.collection()
    one = collection.get_object(indicator(42).id)["objects"]
    assert len(one) == 1 and one[0]["pattern"] == "[ipv4-addr:value = '198.18.0.43']"
    versions = collection.object_versions(running.revoked.object_id)
    assert versions["more"] is False and versions["versions"][0] == running.revoked.version
    assert len(versions["versions"]) == 2


def test_posting_sightings_and_polling_the_status(running: Running) -> None:
    inbound = running.collection(INBOUND)
    ours = indicator(3).id
    objects = [sighting(n, ours) for n in range(20)] + [sighting(99, ours, count=-1)]
    status = inbound.add_objects({"objects": objects}, wait_for_completion=True, poll_interval=0.1, timeout=10)
    assert status.status == "complete" and status.total_count == 21
    assert status.success_count == 20 and status.failure_count == 1
    assert status.failures[0]["id"] == sighting(99, ours)["id"] and "count" in status.failures[0]["message"]
    root = ApiRoot(f"{running.url}/api1/", user=READER, password=PASSWORDS[READER])
    polled = root.get_status(status.id)
    assert polled.status == "complete" and polled.success_count == 20
    held = running.queue.conn.execute("SELECT count(*) FROM inbound WHERE type = 'sighting'").fetchone()[0]
    assert held == 20
    assert "exchange.receive" in running.audit.kinds()


def test_edge_cases_over_raw_http(running: Running) -> None:
    objects = f"/api1/collections/{OUTBOUND}/objects/"
    status, headers, body = running.raw("GET", objects + "?limit=0", headers=basic())
    assert status == 400 and body["title"] == "invalid limit" and headers["Content-Type"] == TAXII
    status, _, body = running.raw("GET", objects + "?limit=abc", headers=basic())
    assert status == 400
    status, _, body = running.raw("GET", objects, headers={**basic(), "Accept": "application/json"})
    assert status == 406 and body["http_status"] == "406"
    status, headers, body = running.raw("GET", objects, headers=basic(READER, "wrong"))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
    status, headers, _ = running.raw("GET", objects, headers={"Accept": TAXII})
    assert status == 401 and "Basic" in headers["WWW-Authenticate"]
    status, _, body = running.raw("GET", f"/api1/collections/{HIDDEN}/objects/", headers=basic())
    assert status == 403 and body["title"] == "not allowed to read"
    status, _, body = running.raw("GET", objects + "indicator--00000000-0000-4000-8000-00000000abcd/", headers=basic())
    assert status == 404 and body["title"] == "no such object"
    invalid = json.dumps({"objects": [{"type": "sighting", "id": "sighting--nope"}]}).encode()
    post = {**basic(), "Content-Type": TAXII}
    status, _, body = running.raw("POST", f"/api1/collections/{INBOUND}/objects/", headers=post, body=invalid)
    assert status == 202 and body["failure_count"] == 1 and "not valid STIX 2.1" in body["failures"][0]["message"]
    status, _, _ = running.raw(
        "POST",
        f"/api1/collections/{INBOUND}/objects/",
        headers={**basic(), "Content-Type": "application/json"},
        body=invalid,
    )
    assert status == 415
    large = json.dumps({"objects": [sighting(n, indicator(1).id) for n in range(200)]}).encode()
    status, _, body = running.raw("POST", f"/api1/collections/{INBOUND}/objects/", headers=post, body=large)
    assert status == 413 and body["http_status"] == "413"
    status, headers, body = running.raw("GET", objects + "?limit=3", headers=basic())
    assert status == 200 and body["more"] is True and len(body["objects"]) == 3
    assert headers["X-TAXII-Date-Added-First"].endswith("Z") and len(headers["X-TAXII-Date-Added-Last"]) == 27


def self_signed(folder: Path) -> TlsFiles:
    made_cert, made_key = tls_files(folder, "taxii")
    return TlsFiles(cert=made_cert.name, key=made_key.name)


def test_tls_with_a_self_signed_certificate(tmp_path: Path, running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a session's own verify=PATH (taxii2-client sets that one)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    files = self_signed(tmp_path)
    context = tls_context(files, tmp_path)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    app = create_taxii_app(server_config(), running.path)
    with TaxiiServer(app, "127.0.0.1", 0, ssl_context=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        verified = Server(
            f"{server.url}/taxii2/", user=READER, password=PASSWORDS[READER], verify=str(tmp_path / "taxii.crt")
        )
        assert verified.title == "metagate TAXII 2.1 server"
        collection = Collection(
            f"{server.url}/api1/collections/{OUTBOUND}/",
            user=READER,
            password=PASSWORDS[READER],
            verify=str(tmp_path / "taxii.crt"),
        )
        assert len(collection.get_objects(limit=10)["objects"]) == 10
        import requests

        with pytest.raises(requests.exceptions.SSLError):  # an unknown certificate is refused by default
            requests.get(f"{server.url}/taxii2/", timeout=5)
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/taxii2/", headers=basic())
            plain.getresponse().read()
        plain.close()


def test_a_missing_certificate_is_a_config_error(tmp_path: Path) -> None:
    from policies import ConfigError

    with pytest.raises(ConfigError, match=r"taxii\.crt") as caught:
        tls_context(TlsFiles(cert="taxii.crt", key="taxii.key"), tmp_path)
    assert caught.value.field == "server.tls"
