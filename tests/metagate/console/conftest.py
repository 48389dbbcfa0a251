"""Fixtures of the console tests: a site with a queue and a signed ledger, the app, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import ExchangeConfig, MemoryCollection, Transport
from metagate.console import create_app
from metagate.console._app import backend_of
from tests.metagate.console.site import PASSWORDS, Site, build_site, write_exchange

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def site(tmp_path: Path) -> Site:
    built = build_site(tmp_path)
    write_exchange(built, "http://127.0.0.1:9/api1/", "outbound")  # never reached: the memory transport stands in
    return built


@pytest.fixture
def partner() -> MemoryCollection:
    return MemoryCollection()


@pytest.fixture
def app(site: Site, partner: MemoryCollection, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("METAGATE_TEST_TAXII_PASSWORD", "unused")

    def transport(config: ExchangeConfig) -> Transport:
        return partner

    made = create_app(site.config(), transport=transport)
    made.config["TESTING"] = True
    yield made
    backend_of(made).sharing.stop()


def csrf_of(page: bytes) -> str:
    found = CSRF.search(page.decode())
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def log_in(client: FlaskClient, name: str, password: str | None = None) -> FlaskClient:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf": csrf_of(page.data)},
    )
    assert answer.status_code == 303, answer.data[:400]
    return client


@pytest.fixture
def login(app: Flask) -> Callable[[str], FlaskClient]:
    def make(name: str) -> FlaskClient:
        return log_in(app.test_client(), name)

    return make


# The session's real medallion (a partner on loopback) for the browser journey.
from tests.exchange.conftest import collection, medallion  # noqa: E402, F401  (fixtures, used by name)
