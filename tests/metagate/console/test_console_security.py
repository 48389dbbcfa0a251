"""The console's security properties, tried the way an attacker or a careless user would.

Nothing may publish without the approvals the agreement needs: every POST route is tried
without a session, with a forged, missing or foreign CSRF token, from another origin, by a
role without the permission, by the same approver twice, replayed, and with GET.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import MemoryCollection
from metagate.console import create_app
from metagate.console._app import backend_of
from metagate.console._sessions import LoginLimiter, Sessions
from policies import ConfigError
from tests.metagate.console.conftest import csrf_of, log_in
from tests.metagate.console.site import Site, password_hash


def post_rules(app: Flask) -> list[str]:
    """Every state-changing route of the app, with item 1 filled in."""
    rules = []
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()) and rule.endpoint not in ("auth.login", "auth.logout"):
            rules.append(rule.rule.replace("<int:item_id>", "1"))
    return sorted(rules)


def nothing_left(site: Site, partner: MemoryCollection) -> None:
    """Nothing approved, nothing in the outbox, nothing at the partner."""
    with site.open_queue() as queue:
        assert [i.state for i in queue.items()] == ["pending"] * len(site.items)
        assert all(not i.approvals for i in queue.items())
        assert queue.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert not partner.stored


def test_the_state_changing_routes_are_the_ones_we_mean(app: Flask) -> None:
    assert post_rules(app) == ["/items/1/approve", "/items/1/reject", "/items/1/revoke", "/share"]


def test_get_on_a_state_changing_route_is_405(app: Flask, login: Callable[[str], FlaskClient]) -> None:
    alice = login("alice")
    for path in [*post_rules(app), "/logout"]:
        assert alice.get(path).status_code == 405, path


def test_without_a_session_every_post_is_403_and_pages_redirect_to_login(
    app: Flask, site: Site, partner: MemoryCollection
) -> None:
    client = app.test_client()
    for path in post_rules(app):
        assert client.post(path, data={"csrf": "x", "reason": "r"}).status_code == 403, path
    for page in ("/queue", "/items/1", "/items/1/partner.json", "/audit", "/dashboard"):
        answer = client.get(page)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), page
    nothing_left(site, partner)


@pytest.mark.parametrize("token", ["", "forged", None, "other-session"])
def test_a_missing_forged_or_foreign_csrf_token_is_refused(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient], token: str | None
) -> None:
    alice, bob = login("alice"), login("bob")
    if token == "other-session":
        token = csrf_of(bob.get("/queue").data)
    form = {"reason": "r"} if token is None else {"csrf": token, "reason": "r"}
    for path in post_rules(app):
        assert alice.post(path, data=form).status_code == 403, path
    nothing_left(site, partner)


def test_a_request_from_another_origin_is_refused_even_with_the_token(
    site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    alice = login("alice")
    token = csrf_of(alice.get("/items/1").data)
    answer = alice.post("/items/1/approve", data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    answer = alice.post("/items/1/approve", data={"csrf": token}, headers={"Origin": "null"})
    assert answer.status_code == 403
    nothing_left(site, partner)


@pytest.mark.parametrize("name", ["carol", "dave"])
def test_roles_without_approval_cannot_approve_revoke_or_share(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient], name: str
) -> None:
    client = login(name)
    token = csrf_of(client.get("/queue").data)
    for path in ("/items/1/approve", "/items/1/revoke", "/share"):
        assert client.post(path, data={"csrf": token, "reason": "r"}).status_code == 403, path
    if name == "dave":  # the auditor changes nothing at all
        assert client.post("/items/1/reject", data={"csrf": token, "reason": "r"}).status_code == 403
        assert client.get("/audit").status_code == 200
    else:
        assert client.get("/audit").status_code == 403
    assert 'action="/items/1/approve"' not in client.get("/items/1").data.decode()
    nothing_left(site, partner)


def test_the_same_person_cannot_give_both_approvals(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    alice = login("alice")
    token = csrf_of(alice.get("/items/1").data)
    assert alice.post("/items/1/approve", data={"csrf": token}).status_code == 303
    again = alice.post("/items/1/approve", data={"csrf": token})
    assert again.status_code == 409 and b"alice has already approved it" in again.data
    # a second session of the same person is the same person
    other = login("alice")
    assert other.post("/items/1/approve", data={"csrf": csrf_of(other.get("/items/1").data)}).status_code == 409
    assert other.post("/share", data={"csrf": csrf_of(other.get("/queue").data)}).status_code == 303
    assert backend_of(app).sharing.wait_idle(30)
    with site.open_queue() as queue:
        item = queue.item(1)
        assert item.state == "pending" and [a.actor for a in item.approvals] == ["alice"]
        assert queue.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert not partner.stored


def test_share_now_with_nothing_approved_sends_nothing(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    bob = login("bob")
    assert bob.post("/share", data={"csrf": csrf_of(bob.get("/queue").data)}).status_code == 303
    assert backend_of(app).sharing.wait_idle(30)
    assert "add" not in partner.requests
    nothing_left(site, partner)


def test_a_replayed_approval_counts_once_and_dies_with_the_session(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    alice = login("alice")
    token = csrf_of(alice.get("/items/2").data)
    assert alice.post("/items/2/approve", data={"csrf": token}).status_code == 303
    cookie = alice.get_cookie("metagate_session")
    assert cookie is not None
    assert alice.post("/logout", data={"csrf": token}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("metagate_session", cookie.value)
    assert thief.post("/items/2/approve", data={"csrf": token}).status_code == 403
    assert thief.get("/queue").status_code == 302
    with site.open_queue() as queue:
        assert [a.actor for a in queue.item(2).approvals] == ["alice"]
    assert not partner.stored


def test_a_new_session_id_at_every_login(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("metagate_session", "chosen-by-an-attacker")
    log_in(client, "alice")
    cookie = client.get_cookie("metagate_session")
    assert cookie is not None and cookie.value != "chosen-by-an-attacker" and len(cookie.value) >= 40


def test_security_headers_and_cookie_flags(app: Flask, login: Callable[[str], FlaskClient]) -> None:
    client = app.test_client()
    page = client.get("/login")
    cookies = page.headers.getlist("Set-Cookie")
    assert any("HttpOnly" in c and "SameSite=Strict" in c and "Secure" not in c for c in cookies)
    answer = client.post("/login", data={"username": "alice", "password": "alice-pw-1", "csrf": csrf_of(page.data)})
    session_cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("metagate_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    for path in ("/login", "/queue", "/items/1", "/audit", "/dashboard"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp and "unsafe" not in csp and "script-src" not in csp  # no script at all
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"


def test_cookies_are_secure_when_served_over_tls(site: Site) -> None:
    app = create_app(site.config(tls={"cert": "c.pem", "key": "k.pem"}))
    try:
        client = app.test_client()
        page = client.get("/login", base_url="https://localhost")
        assert all("Secure" in c for c in page.headers.getlist("Set-Cookie"))
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        backend_of(app).sharing.stop()


def _try(client: FlaskClient, name: str, password: str) -> int:
    page = client.get("/login")
    form = {"username": name, "password": password, "csrf": csrf_of(page.data)}
    return client.post("/login", data=form).status_code


def test_failed_logins_are_limited_per_user(site: Site) -> None:
    app = create_app(site.config(login_limit={"attempts": 3, "window_seconds": 60}))
    try:
        client = app.test_client()
        assert [_try(client, "alice", "wrong") for _ in range(3)] == [401, 401, 401]
        page = client.get("/login")
        answer = client.post("/login", data={"username": "alice", "password": "alice-pw-1", "csrf": csrf_of(page.data)})
        assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60
        assert b"Too many failed logins" in answer.data
    finally:
        backend_of(app).sharing.stop()


def test_failed_logins_are_limited_per_address_across_names(site: Site) -> None:
    app = create_app(site.config(login_limit={"attempts": 3, "window_seconds": 60}))
    try:
        client = app.test_client()
        assert [_try(client, name, "wrong") for name in ("x1", "x2", "x3")] == [401, 401, 401]
        assert _try(client, "bob", "bob-pw-2") == 429
        other = app.test_client()  # another address is not held back
        assert _try_from(other, "bob", "bob-pw-2", "127.0.0.2") == 303
    finally:
        backend_of(app).sharing.stop()


def _try_from(client: FlaskClient, name: str, password: str, address: str) -> int:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=environ)
    form = {"username": name, "password": password, "csrf": csrf_of(page.data)}
    return client.post("/login", data=form, environ_base=environ).status_code


def test_the_limit_lifts_when_the_window_has_passed() -> None:
    now = [100.0]
    limiter = LoginLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("user:a")
    limiter.failed("user:a")
    assert limiter.retry_after("user:a") == 60
    now[0] += 30
    assert limiter.retry_after("user:a") == 30
    now[0] += 30.5
    assert limiter.retry_after("user:a") is None


def test_sessions_end_when_idle_and_at_their_maximum_age() -> None:
    now = [0.0]
    sessions = Sessions(idle_seconds=60, max_seconds=300, clock=lambda: now[0])
    first = sessions.create("alice")
    now[0] = 61
    assert sessions.get(first.id) is None
    second = sessions.create("alice")  # created at 61: lives until 361 however busy
    for t in range(100, 361, 50):
        now[0] = t
        assert sessions.get(second.id) is not None
    now[0] = 362
    assert sessions.get(second.id) is None


def test_wrong_name_and_wrong_password_get_the_same_answer(app: Flask) -> None:
    client = app.test_client()
    pages = []
    for name in ("nobody", "alice"):
        page = client.get("/login")
        answer = client.post("/login", data={"username": name, "password": "nope", "csrf": csrf_of(page.data)})
        pages.append((answer.status_code, b"Wrong user name or password." in answer.data))
    assert pages == [(401, True), (401, True)]


def test_login_forms_cannot_be_forged_and_never_redirect_elsewhere(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/login", data={"username": "alice", "password": "alice-pw-1"}).status_code == 403
    page = client.get("/login?next=//evil.example/x")
    answer = client.post(
        "/login",
        data={"username": "alice", "password": "alice-pw-1", "csrf": csrf_of(page.data), "next": "//evil.example/x"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_a_clear_password_in_the_configuration_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    from metagate.console import load_console_config

    path = tmp_path / "console.yaml"
    path.write_text("users:\n  - {name: alice, role: approver, password_hash: hunter2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"console.yaml: users\.0\.password_hash \(alice\): not a password hash"):
        load_console_config(path)
    path.write_text(f"users:\n  - {{name: alice, role: boss, password_hash: '{password_hash('alice')}'}}\n")
    with pytest.raises(ConfigError) as error:
        load_console_config(path)
    assert error.value.field == "users.0.role"
    path.write_text("user: []\n")
    with pytest.raises(ConfigError, match="unknown field 'user'"):
        load_console_config(path)


def test_replaying_the_last_approval_after_publication_sends_nothing_twice(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    alice, bob = login("alice"), login("bob")
    assert alice.post("/items/3/approve", data={"csrf": csrf_of(alice.get("/items/3").data)}).status_code == 303
    form = {"csrf": csrf_of(bob.get("/items/3").data)}
    assert bob.post("/items/3/approve", data=form).status_code == 303
    assert backend_of(app).sharing.wait_idle(30)
    stored = len(partner.stored)
    assert stored > 0
    again = bob.post("/items/3/approve", data=form)
    assert again.status_code == 409 and b"cannot approve an item that is published" in again.data
    assert bob.post("/share", data=form).status_code == 303
    assert backend_of(app).sharing.wait_idle(30)
    assert len(partner.stored) == stored
    versions = [(s.obj["id"], s.version) for s in partner.stored]
    assert len(versions) == len(set(versions))


def test_a_405_says_which_method_and_a_missing_ledger_is_named(
    app: Flask, site: Site, login: Callable[[str], FlaskClient]
) -> None:
    dave = login("dave")
    answer = dave.get("/share")
    assert answer.status_code == 405 and "POST" in answer.headers["Allow"] and "GET" not in answer.headers["Allow"]
    site.place.ledger.rename(site.folder / "moved.sqlite")
    answer = dave.get("/audit")
    assert answer.status_code == 503 and b"no audit ledger at" in answer.data


def test_the_same_approver_racing_from_many_sessions_counts_once(
    app: Flask, site: Site, partner: MemoryCollection, login: Callable[[str], FlaskClient]
) -> None:
    import threading

    clients = [login("alice") for _ in range(6)]
    forms = [{"csrf": csrf_of(c.get("/items/1").data)} for c in clients]
    codes: list[int] = []
    start = threading.Barrier(len(clients))

    def approve(client: FlaskClient, form: dict[str, str]) -> None:
        start.wait(timeout=10)
        codes.append(client.post("/items/1/approve", data=form).status_code)

    threads = [threading.Thread(target=approve, args=pair) for pair in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [303] + [409] * (len(clients) - 1)
    with site.open_queue() as queue:
        item = queue.item(1)
        assert item.state == "pending" and [a.actor for a in item.approvals] == ["alice"]
        assert queue.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert not partner.stored
