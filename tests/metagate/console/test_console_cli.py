"""``metagate console`` as a process: listens on loopback, demo accounts only there, clear errors."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.metagate.console.site import Site, build_site

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def console(folder: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    env = {
        **os.environ,
        "METAGATE_LEDGER": str(folder / "ledger.sqlite"),
        "METAGATE_LEDGER_KEY": str(folder / "ledger.key"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "metagate", "console", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def read_until(process: subprocess.Popen[str], lines: list[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines:
            if found := re.search(pattern, line):
                return found
        if selector.select(timeout=0.5):
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
    raise AssertionError(f"no {pattern!r} in {lines}")


def test_embedded_defaults_serve_the_queue_with_demo_accounts_on_loopback(tmp_path: Path) -> None:
    site: Site = build_site(tmp_path)
    (tmp_path / "exchange.sqlite").rename(tmp_path / "metagate-exchange.sqlite")  # the default name
    with console(tmp_path, "--port", "0") as (process, lines):
        port = int(read_until(process, lines, r"console on http://127\.0\.0\.1:(\d+)/").group(1))
        password = read_until(process, lines, r"approver1\s+approver\s+(\S+)").group(1)
        base = f"http://127.0.0.1:{port}"
        with requests.Session() as browser:
            page = browser.get(f"{base}/login", timeout=10)
            assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
            token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
            form = {"username": "approver1", "password": password, "csrf": token}
            queue = browser.post(f"{base}/login", data=form, timeout=10)
            assert queue.status_code == 200 and queue.url.endswith("/queue")
            for item in site.items:
                assert f'href="/items/{item}"' in queue.text
            wrong = browser.post(f"{base}/login", data={**form, "password": "nope"}, timeout=10)
            assert wrong.status_code == 403  # the login form's token is spent with its cookie


def test_no_users_and_not_loopback_is_refused(tmp_path: Path) -> None:
    build_site(tmp_path)
    with console(tmp_path, "--host", "0.0.0.0", "--port", "0") as (process, lines):
        assert process.wait(timeout=30) == 2
        read_until(process, lines, r"no users configured and 0\.0\.0\.0 is not loopback")


def test_a_missing_configuration_or_ledger_is_named(tmp_path: Path) -> None:
    with console(tmp_path, "--config", "absent.yaml", "--port", "0") as (process, lines):
        assert process.wait(timeout=30) == 2
        read_until(process, lines, r"absent\.yaml: cannot read the console configuration")
    with console(tmp_path, "--port", "0") as (process, lines):
        assert process.wait(timeout=30) == 2
        read_until(process, lines, r"no ledger signing key at .*ledger\.key: run `metagate audit init` first")
