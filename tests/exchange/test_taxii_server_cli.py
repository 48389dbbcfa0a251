"""``metagate taxii-server`` as a process, read by our own ``metagate pull`` (the partner's side): a round trip.

The server and the puller are separate ``metagate`` processes with their own queues and
ledgers, as at two sites. What the partner posts is in our ledger; SIGTERM stops the server
cleanly; configuration mistakes stop it before it listens.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import Collection

from detectors import load_indicators
from exchange import MemoryAudit, Queue
from tests.exchange.conftest import Clock
from tests.exchange.served import INBOUND, OUTBOUND, PASSWORDS, READER, indicator, publish, server_section
from tests.exchange.test_taxii_server_app import sighting


def metagate(work: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAGATE_ACTOR": "tester", "OUR_PASSWORD": PASSWORDS[READER]}
    return subprocess.run(
        [sys.executable, "-m", "metagate", *args], cwd=work, capture_output=True, text=True, timeout=120, env=env, **kw
    )


def exchange_yaml(work: Path, producer: str, taxii: dict[str, Any], server: dict[str, Any] | None) -> None:
    config: dict[str, Any] = {"partner": "us-partner", "producer": {"name": producer}, "taxii": taxii}
    if server is not None:
        config["server"] = server
    (work / "metagate-exchange.yaml").write_text(json.dumps(config))


class Served:
    """``metagate taxii-server`` started in ``work``; the URL it printed."""

    def __init__(self, work: Path) -> None:
        env = {**os.environ, "METAGATE_ACTOR": "tester"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metagate", "taxii-server", "--port", "0"],
            cwd=work,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(r"TAXII 2\.1 server at (http\S+)/taxii2/", line)
            if found:
                self.url = found.group(1)
                return
        self.process.kill()
        raise AssertionError(f"the server did not start: {''.join(self.lines)}")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, rest = self.process.communicate(timeout=20)
        return self.process.returncode, "".join(self.lines) + rest


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[tuple[Path, Served]]:
    work = tmp_path / "ours"
    work.mkdir()
    assert metagate(work, "audit", "init").returncode == 0
    with Queue(work / "metagate-exchange.sqlite", MemoryAudit(), clock=Clock()) as queue:
        publish(queue, 40, per_item=4, batches=2)
    exchange_yaml(
        work, "Test Carrier SOC", {"api_root": "http://127.0.0.1:9/api1/", "outbound_collection": "x"}, server_section()
    )
    served = Served(work)
    try:
        yield work, served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=10)


def test_our_puller_against_our_server_then_a_clean_stop(tmp_path: Path, ours: tuple[Path, Served]) -> None:
    work, served = ours
    partner = tmp_path / "partner"
    partner.mkdir()
    assert metagate(partner, "audit", "init").returncode == 0
    taxii = {
        "api_root": f"{served.url}/api1/",
        "outbound_collection": INBOUND,
        "inbound_collection": OUTBOUND,
        "user": READER,
        "password_env": "OUR_PASSWORD",
        "page_size": 15,
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    exchange_yaml(partner, "US partner SOC", taxii, None)
    pulled = metagate(partner, "pull", "-o", "feed.jsonl")
    assert pulled.returncode == 0, pulled.stderr
    assert "42 received in 3 page(s), 42 new, 0 refused" in pulled.stdout
    indicators = load_indicators(partner / "feed.jsonl")
    assert len(indicators) == 40
    again = metagate(partner, "pull", "-o", "feed.jsonl")
    assert again.returncode == 0 and "0 received" in again.stdout  # the cursor held: nothing twice
    # the partner posts a sighting of one of ours back, with taxii2-client
    inbound = Collection(f"{served.url}/api1/collections/{INBOUND}/", user=READER, password=PASSWORDS[READER])
    status = inbound.add_objects({"objects": [sighting(1, indicator(2).id)]}, wait_for_completion=False)
    assert status.status == "complete" and status.success_count == 1
    code, log = served.stop()
    assert code == 0, log
    assert "TAXII server stopped" in log
    entries = [
        json.loads(line) for line in metagate(work, "audit", "show", "--kind", "exchange.receive").stdout.splitlines()
    ]
    assert len(entries) == 1 and entries[0]["actor"] == READER
    assert entries[0]["payload"]["new"] == 1 and entries[0]["payload"]["collection"] == INBOUND
    assert metagate(work, "audit", "verify").returncode == 0


def test_configuration_mistakes_stop_it_before_it_listens(tmp_path: Path) -> None:
    work = tmp_path / "site"
    work.mkdir()
    assert metagate(work, "audit", "init").returncode == 0
    taxii = {"api_root": "http://127.0.0.1:9/api1/", "outbound_collection": "x"}
    exchange_yaml(work, "Test Carrier SOC", taxii, None)
    missing = metagate(work, "taxii-server", "--port", "0")
    assert missing.returncode == 2 and "no server: section" in missing.stderr
    section = server_section()
    section["accounts"][0]["password_hash"] = PASSWORDS[READER]
    exchange_yaml(work, "Test Carrier SOC", taxii, section)
    clear = metagate(work, "taxii-server", "--port", "0")
    assert clear.returncode == 2
    assert "metagate-exchange.yaml: server.accounts.us-reader.password_hash: not a password hash" in clear.stderr
    assert PASSWORDS[READER] not in clear.stderr
    exchange_yaml(work, "Test Carrier SOC", taxii, server_section())
    exposed = metagate(work, "taxii-server", "--port", "0", "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "plain HTTP is for loopback only" in exposed.stderr
    exchange_yaml(work, "Test Carrier SOC", taxii, {**server_section(), "tls": {"cert": "no.crt", "key": "no.key"}})
    tls = metagate(work, "taxii-server", "--port", "0")
    assert tls.returncode == 2 and "no.crt" in tls.stderr
