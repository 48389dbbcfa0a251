"""The review queue: states, two people, every event in the signed ledger exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange import LedgerAudit, MemoryAudit, Packager, Queue, ReviewError, StixValidator, package_findings
from exchange._outbox import Outbox
from policies import Ledger, load_public_key, public_key_id, verify_ledger, write_public_key, write_signing_key
from tests.exchange.conftest import Clock, finding


def queued(packager: Packager, queue: Queue, n: int = 1) -> list[int]:
    run = package_findings([finding(i) for i in range(n)], packager, queue, actor="packager")
    return run.items


def test_two_approvals_by_two_people(packager: Packager, queue: Queue, audit: MemoryAudit) -> None:
    (item,) = queued(packager, queue)
    assert queue.item(item).state == "pending" and queue.item(item).approvals_required == 2
    assert queue.approve(item, "alice", "checked the flows").state == "pending"
    with pytest.raises(ReviewError, match="alice has already approved it") as caught:
        queue.approve(item, "alice")
    assert caught.value.item == item and caught.value.state == "pending"
    assert Outbox(queue, "us-partner").counts() == {}  # nothing goes out before the second person
    approved = queue.approve(item, "bob")
    assert approved.state == "approved" and [a.actor for a in approved.approvals] == ["alice", "bob"]
    counts = Outbox(queue, "us-partner").counts()
    assert counts == {"queued": 4}  # identity, TLP:AMBER, indicator, sighting
    kinds = [k for k in audit.kinds() if k.startswith("review.")]
    assert kinds == ["review.queue", "review.approve", "review.approve"]
    last = audit.entries[-1]
    assert last[2] == "bob" and last[3]["approvals"] == 2 and last[3]["to"] == "approved"
    assert last[3]["objects"][0]["sha256"] == queue.item(item).objects[0].sha256


def test_states_only_move_as_drawn(packager: Packager, queue: Queue) -> None:
    first, second = queued(packager, queue, 2)
    with pytest.raises(ReviewError, match="needs a reason"):
        queue.reject(first, "alice", " ")
    assert queue.reject(first, "alice", "scanner is our own red team").state == "rejected"
    with pytest.raises(ReviewError, match="cannot approve an item that is rejected"):
        queue.approve(first, "bob")
    with pytest.raises(ReviewError, match="cannot revoke an item that is pending"):
        queue.revoke(second, "alice", "oops", StixValidator())
    with pytest.raises(ReviewError, match="no such item"):
        queue.approve(99, "alice")
    with pytest.raises(ReviewError, match="reserved"):
        queue.approve(second, "auto-approve")
    with pytest.raises(ReviewError, match="no state"):
        queue.items("done")


def test_revoking_a_published_item_queues_revoked_versions(packager: Packager, queue: Queue) -> None:
    (item,) = queued(packager, queue)
    queue.auto_approve([item], "tester")
    outbox = Outbox(queue, "us-partner")
    outbox.deliver(outbox.due(1e12, 100, 10**6), actor="tester", status_id="s1", how="status")
    assert queue.item(item).state == "published"
    revoked = queue.revoke(item, "alice", "a false positive", StixValidator())
    assert revoked.state == "revoked"
    revocations = [json.loads(o.json) for o in revoked.objects if o.role == "revocation"]
    assert [r["type"] for r in revocations] == ["indicator", "sighting"]
    originals = {json.loads(o.json)["id"]: json.loads(o.json) for o in revoked.objects if o.role == "object"}
    for new in revocations:
        old = originals[new["id"]]
        assert new["revoked"] is True and new["modified"] > old["modified"] and new["created"] == old["created"]
        assert {k: v for k, v in new.items() if k not in ("revoked", "modified")} == {
            k: v for k, v in old.items() if k != "modified"
        }
    assert outbox.counts() == {"delivered": 4, "queued": 2}


def test_show_is_exactly_what_is_sent(packager: Packager, queue: Queue) -> None:
    (item,) = queued(packager, queue)
    queue.auto_approve([item], "tester")
    shown = queue.item(item).partner_json()
    rows = [r for r in Outbox(queue, "us-partner").due(1e12, 100, 10**6) if r.item == item]
    from exchange._outbox import envelope

    assert envelope(rows) == shown


def test_auto_approve_is_said_in_the_ledger(packager: Packager, queue: Queue, audit: MemoryAudit) -> None:
    items = queued(packager, queue, 3)
    assert queue.auto_approve(items, "demo-runner") == items
    (entry,) = [e for e in audit.entries if e[1] == "review.auto_approve"]
    assert entry[2] == "demo-runner" and entry[3]["auto_approve"] is True and entry[3]["items"] == items
    assert "WITHOUT human review" in entry[3]["warning"]
    assert {a.actor for i in items for a in queue.item(i).approvals} == {"auto-approve"}


def signed_ledger(folder: Path) -> tuple[Ledger, Path]:
    key = write_signing_key(folder / "ledger.key")
    write_public_key(folder / "ledger.key.pub", key.public_key())
    return Ledger(folder / "ledger.sqlite", key), folder / "ledger.key.pub"


def test_events_reach_the_signed_ledger_once_even_after_a_crash(tmp_path: Path, packager: Packager) -> None:
    ledger, public = signed_ledger(tmp_path)
    queue = Queue(tmp_path / "q.sqlite", LedgerAudit(ledger), clock=Clock())
    packager.history = queue
    (item,) = queued(packager, queue)
    queue.approve(item, "alice")
    # a crash after the state change, before the ledger append: the event is there, unrecorded
    queue.audit = None
    queue.approve(item, "bob")
    queue.close()
    uid = json.loads(open_uid(tmp_path / "q.sqlite"))
    assert uid is not None
    before = [e.kind for e in ledger.entries()]
    reopened = Queue(tmp_path / "q.sqlite", LedgerAudit(ledger))
    after = [e for e in ledger.entries()]
    assert len(after) == len(before) + 1 and after[-1].payload["recovered"] is True and after[-1].actor == "bob"
    assert reopened.settle_audit() == 0  # settled once, not again
    # a crash after the append, before the queue noted it: found in the ledger, not appended twice
    reopened.conn.execute("UPDATE transitions SET ledger_seq = NULL WHERE uid = ?", (after[-1].payload["uid"],))
    assert reopened.settle_audit() == 1 and len(list(ledger.entries())) == len(after)
    reopened.close()
    key = load_public_key(public)
    result = verify_ledger(tmp_path / "ledger.sqlite", {public_key_id(key): key})
    assert result.ok and result.entries == len(after)
    kinds = [e.kind for e in after]
    assert kinds.count("review.approve") == 2 and "review.queue" in kinds and "exchange.package" in kinds


def open_uid(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT uid FROM transitions WHERE ledger_seq IS NULL").fetchone()
    return json.dumps(row[0] if row else None)


def test_what_came_from_the_partner_is_never_queued_to_go_out(packager: Packager, queue: Queue) -> None:
    decision, objects = packager.package(finding(0))
    queue.conn.execute(
        "INSERT INTO inbound VALUES ('us-partner', ?, '2025-01-01T00:00:00.000Z', 0, 'indicator', 'red', 1, '{}', 'x')",
        (objects[0].id,),
    )
    refused = queue.enqueue(decision, objects, actor="tester", approvals_required=1, summary="s", kind="k")
    assert refused.item is None and refused.notes[-1].clause == "exchange:inbound-is-not-reshared"
    assert queue.items() == [] and queue.decisions()[-1]["outcome"] == "refused"


def test_a_failed_batch_queues_nothing_and_records_nothing(
    packager: Packager, queue: Queue, audit: MemoryAudit
) -> None:
    before = len(audit.entries)
    with pytest.raises(RuntimeError), queue.batch():
        for n in range(3):
            decision, objects = packager.package(finding(n))
            queue.enqueue(decision, objects, actor="tester", approvals_required=1, summary="s", kind="k")
        raise RuntimeError("the process dies mid-batch")
    assert queue.items() == [] and len(audit.entries) == before
    with queue.batch():
        decision, objects = packager.package(finding(0))
        queue.enqueue(decision, objects, actor="tester", approvals_required=1, summary="s", kind="k")
        assert len(audit.entries) == before  # recorded only once the batch is durable
    assert len(queue.items()) == 1 and audit.kinds()[before:] == ["review.queue"]
