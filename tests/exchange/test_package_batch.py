"""Packaging in batches writes exactly what packaging finding by finding writes, and fails whole."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import exchange._packaging
import exchange._queue
from detectors import Finding
from exchange import MemoryAudit, Outcome, Packager, Queue, StixValidator, Verdict, package_findings
from exchange._ids import NAMESPACE, indicator_id, uuid5
from exchange._packaging import summary
from policies import Policy
from tests.exchange.conftest import Clock, exchange_config, finding


def findings() -> list[Finding]:
    """New indicators, the same pattern again within a batch (a merge), a refusal, a repeat (unchanged)."""
    later = datetime(2025, 3, 1, 13, tzinfo=UTC)
    return [
        finding(0),
        finding(1),
        finding(0, id="finding--again", first_seen=later, confidence=95),
        finding(2, confidence=10),
        finding(0),
        finding(3, subject=("2001:db8::9",)),
        finding(1, id="finding--once-more", confidence=90),
        finding(4),
    ]


def packaging(folder: Path, policy: Policy) -> tuple[Queue, Packager, MemoryAudit]:
    audit = MemoryAudit()
    queue = Queue(folder / "exchange.sqlite", audit, clock=Clock())
    packager = Packager(policy, exchange_config(), queue, clock=Clock(datetime(2025, 3, 2, 9, 0, tzinfo=UTC)))
    return queue, packager, audit


def rows(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    """Every row packaging writes, the random event uids left out."""
    transitions = conn.execute(
        "SELECT item, event, from_state, to_state, actor, at, reason, ledger_kind, payload, ledger_seq "
        "FROM transitions ORDER BY rowid"
    ).fetchall()
    return {
        "items": conn.execute("SELECT * FROM items ORDER BY id").fetchall(),
        "objects": conn.execute("SELECT * FROM objects ORDER BY partner, object_id, version").fetchall(),
        "decisions": conn.execute("SELECT * FROM decisions ORDER BY seq").fetchall(),
        "transitions": [(*t[:-2], {**json.loads(t[-2]), "uid": None}, t[-1]) for t in transitions],
    }


def entries(audit: MemoryAudit) -> list[tuple[int, str, str, dict[str, Any]]]:
    return [(seq, kind, actor, {**payload, "uid": None}) for seq, kind, actor, payload in audit.entries]


def test_batches_write_what_one_finding_at_a_time_writes(
    tmp_path: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange._packaging, "BATCH", 3)  # several batches, a merge inside one
    (tmp_path / "batched").mkdir()
    (tmp_path / "single").mkdir()
    queue, packager, audit = packaging(tmp_path / "batched", policy)
    run = package_findings(findings(), packager, queue, actor="tester")
    assert [d.outcome for d in run.decisions] == [
        Outcome.QUEUED, Outcome.QUEUED, Outcome.QUEUED, Outcome.REFUSED,
        Outcome.UNCHANGED, Outcome.QUEUED, Outcome.QUEUED, Outcome.QUEUED,
    ]  # fmt: skip
    assert audit.kinds()[-1] == "exchange.package"
    del audit.entries[-1]
    batched = rows(queue.conn)
    batched["transitions"] = [t for t in batched["transitions"] if t[1] != "package"]

    single, single_packager, single_audit = packaging(tmp_path / "single", policy)
    single.put_companion("us-partner", single_packager.identity())
    required = single_packager.view.agreement.approvals_required
    for f in findings():
        decision, objects = single_packager.package(f)
        single.enqueue(
            decision, objects, actor="tester", approvals_required=required, summary=summary(f), kind=f.kind.value
        )
    assert batched == rows(single.conn)
    assert entries(audit) == entries(single_audit)
    versions = single.conn.execute(
        "SELECT count(*) FROM objects WHERE object_id = ? AND role = 'object'", (run.decisions[0].object_ids[0],)
    ).fetchone()[0]
    assert versions == 2  # the merge in the first batch made a second version, not a second object
    queue.close()
    single.close()


def test_a_change_that_fails_inside_a_batch_leaves_no_row(
    packager: Packager, queue: Queue, audit: MemoryAudit, monkeypatch: pytest.MonkeyPatch
) -> None:
    with queue.batch():
        first = queue.enqueue(*packager.package(finding(0)), actor="t", approvals_required=1, summary="s", kind="k")
        broken = Failing()
        monkeypatch.setattr(exchange._queue, "_decision_row", broken)
        with pytest.raises(RuntimeError):  # the item and its objects were gathered when it failed
            queue.enqueue(*packager.package(finding(1)), actor="t", approvals_required=1, summary="s", kind="k")
        monkeypatch.undo()
        last = queue.enqueue(*packager.package(finding(2)), actor="t", approvals_required=1, summary="s", kind="k")
    assert broken.calls == 1 and (first.item, last.item) == (1, 2)
    assert [i.finding for i in queue.items()] == [finding(0).id, finding(2).id]
    held = {r[0] for r in queue.conn.execute("SELECT object_id FROM objects WHERE role = 'object'")}
    assert held == {*first.object_ids, *last.object_ids}
    assert [p["item"] for _, kind, _, p in audit.entries if kind == "review.queue"] == [1, 2]
    assert [d["finding"] for d in queue.decisions()] == [finding(0).id, finding(2).id]


class Failing:
    """A decision that cannot be written: a failure in the middle of queueing an item."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        raise RuntimeError("the disk is full")


def test_the_object_validated_is_the_one_its_bytes_say(policy: Policy, queue: Queue) -> None:
    checked: list[dict[str, Any]] = []

    class Recording(StixValidator):
        def check(self, obj: dict[str, Any], *, partner: str | None = None) -> Verdict:
            checked.append(json.loads(json.dumps(obj)))  # a copy as JSON would carry it
            return super().check(obj, partner=partner)

    packager = Packager(policy, exchange_config(), queue, validator=Recording())
    made = [o for f in findings() for o in packager.package(f)[1]]
    assert made and [json.loads(o.json) for o in made] == checked
    assert all(o.version == json.loads(o.json)["modified"] for o in made)


@pytest.mark.parametrize("name", ["", "indicator|us-partner|[ipv4-addr:value = '198.51.100.1']", "identity|日本|x"])
def test_ids_are_the_rfc_4122_uuid5_of_what_they_are_about(name: str) -> None:
    assert uuid5(name) == str(uuid.uuid5(NAMESPACE, name))
    assert indicator_id("p", "[x]") == f"indicator--{uuid.uuid5(NAMESPACE, 'indicator|p|[x]')}"


def test_latest_many_answers_as_latest_does(packager: Packager, queue: Queue) -> None:
    for f in findings()[:3]:  # finding 0 twice: its indicator has two versions in the file
        queue.enqueue(*packager.package(f), actor="t", approvals_required=1, summary="s", kind="k")
    ids = [r[0] for r in queue.conn.execute("SELECT DISTINCT object_id FROM objects")] + ["indicator--none"]
    with queue.batch():  # and versions still waiting for the batch's commit
        queue.enqueue(*packager.package(findings()[6]), actor="t", approvals_required=1, summary="s", kind="k")
        many = queue.latest_many("us-partner", ids)
        assert many == {i: v for i in ids if (v := queue.latest("us-partner", i)) is not None}
        assert len(many) == len(ids) - 1 and queue.latest_many("eu-partner", ids) == {}
