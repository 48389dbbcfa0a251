"""``metagate console`` over TLS: HTTPS only, Secure cookies, HSTS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.metagate.console.site import PASSWORDS, ROLES, build_site, password_hash
from tests.metagate.console.test_console_cli import console, read_until
from tests.tlscerts import self_signed as tls_files


def self_signed(folder: Path) -> tuple[Path, Path]:
    return tls_files(folder, "console")


def test_console_over_tls(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    cert, key = self_signed(tmp_path)
    users = "".join(f"  - {{name: {n}, role: {ROLES[n]}, password_hash: '{password_hash(n)}'}}\n" for n in PASSWORDS)
    config = tmp_path / "console.yaml"
    config.write_text(
        f"queue: {site.queue.name}\nledger: {site.place.ledger.name}\nledger_key: {site.place.key.name}\n"
        f"tls: {{cert: {cert.name}, key: {key.name}}}\nusers:\n{users}",
        encoding="utf-8",
    )
    with console(tmp_path, "--config", str(config), "--port", "0") as (process, lines):
        port = int(read_until(process, lines, r"console on https://127\.0\.0\.1:(\d+)/").group(1))
        base = f"https://127.0.0.1:{port}"
        with requests.Session() as browser:
            page = browser.get(f"{base}/login", timeout=10, verify=str(cert))
            assert page.status_code == 200
            assert page.headers["Strict-Transport-Security"].startswith("max-age=")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            answer = browser.post(
                f"{base}/login",
                data={"username": "carol", "password": PASSWORDS["carol"], "csrf": token},
                headers={"Origin": base},
                allow_redirects=False,
                timeout=10,
                verify=str(cert),
            )
            assert answer.status_code == 303
            cookie = answer.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/login", timeout=5)  # no plain HTTP on the TLS port
