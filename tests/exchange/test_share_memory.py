"""Share against an in-memory collection: retries, Retry-After, refusals, partial failures, kills.

Whatever happens, the collection ends up holding every approved version exactly once, and
every error names the partner and the objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from exchange import (
    FailureKind,
    MemoryAudit,
    MemoryCollection,
    Packager,
    PartnerError,
    Queue,
    Sharer,
    StatusReport,
    TransportError,
    package_findings,
)
from exchange._outbox import Outbox
from tests.exchange.conftest import Clock, exchange_config, finding


class Time:
    """A fake clock that sleeping moves on; what was slept is kept."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def approved(packager: Packager, queue: Queue, n: int) -> list[int]:
    items = package_findings([finding(i) for i in range(n)], packager, queue, actor="packager").items
    queue.auto_approve(items, "tester")
    return items


def sharer(queue: Queue, collection: Any, time: Time, **settings: Any) -> Sharer:
    config = exchange_config(**settings)
    return Sharer(
        queue,
        collection,
        config.taxii,
        "us-partner",
        "tester",
        clock=time.clock,
        sleep=time.sleep,
        jitter=lambda: 0.5,
        log=lambda line: None,
    )


def exactly_once(queue: Queue, collection: MemoryCollection) -> None:
    rows = queue.conn.execute("SELECT object_id, version, state FROM outbox").fetchall()
    assert rows and all(state == "delivered" for _, _, state in rows)
    for object_id, version, _ in rows:
        assert collection.count(object_id, version) == 1, (object_id, version)
    assert len(collection.stored) == len(rows)
    assert {i.state for i in queue.items()} == {"published"}


def test_a_clean_push(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 5)
    collection, time = MemoryCollection(), Time()
    report = sharer(queue, collection, time).run()
    assert report.delivered == 12 and report.requests == 1 and report.published == [1, 2, 3, 4, 5]
    exactly_once(queue, collection)
    assert sharer(queue, collection, time).run().requests == 0  # nothing left to do


def test_content_and_count_limits_cut_requests(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 20)
    sizes: list[tuple[int, int]] = []

    def measure(request: str, argument: Any) -> None:
        if request == "add":
            import json

            sizes.append((len(argument), len(json.loads(argument)["objects"])))

    collection = MemoryCollection(content_limit=3_000, faults=[measure])
    report = sharer(queue, collection, Time(), max_objects_per_request=3).run()
    assert report.requests == len(sizes) >= 42 // 3
    assert all(size <= 3_000 and count <= 3 for size, count in sizes)
    exactly_once(queue, collection)


def fail_times(n: int, error: TransportError, what: str = "add") -> Any:
    left = [n]

    def fault(request: str, argument: Any) -> None:
        if request == what and left[0] > 0:
            left[0] -= 1
            raise error
        return None

    return fault


@pytest.mark.parametrize(
    "error",
    [
        TransportError(FailureKind.CONNECT, "connection refused"),
        TransportError(FailureKind.TIMEOUT, "no answer in time"),
        TransportError(FailureKind.HTTP, "HTTP 500", status=500),
        TransportError(FailureKind.HTTP, "HTTP 503", status=503, retry_after=2.0),
    ],
)
def test_transient_failures_are_retried_with_backoff(packager: Packager, queue: Queue, error: TransportError) -> None:
    approved(packager, queue, 2)
    collection, time = MemoryCollection(faults=[fail_times(3, error)]), Time()
    report = sharer(queue, collection, time).run()
    assert report.retries == 3
    waits = [s for s in time.slept if s > 0]
    if error.retry_after:
        assert waits == [2.0, 2.0, 2.0]
    else:
        assert waits == pytest.approx([0.0075, 0.015, 0.0300])  # backoff 0.01 doubling, jitter at half
    exactly_once(queue, collection)


def test_retry_after_on_429_is_honoured_up_to_the_cap(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 1)
    error = TransportError(FailureKind.HTTP, "HTTP 429", status=429, retry_after=7.0)
    collection, time = MemoryCollection(faults=[fail_times(2, error)]), Time()
    sharer(queue, collection, time, max_retry_after=5.0).run()
    assert [s for s in time.slept if s > 0] == [5.0, 5.0]
    exactly_once(queue, collection)


def test_giving_up_loses_nothing_and_names_partner_and_objects(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 2)
    down = TransportError(FailureKind.CONNECT, "POST .../objects/: connection refused")
    collection, time = MemoryCollection(faults=[fail_times(100, down)]), Time()
    with pytest.raises(PartnerError) as caught:
        sharer(queue, collection, time, max_attempts=4).run()
    error = caught.value
    assert error.partner == "us-partner" and error.retryable and len(error.object_ids) == 6
    assert "partner us-partner (identity--" in str(error) and "gave up after 4 attempts" in str(error)
    assert Outbox(queue, "us-partner").counts() == {"queued": 6}
    collection.faults.clear()
    sharer(queue, collection, time).run()
    exactly_once(queue, collection)


def test_401_stops_at_once_and_keeps_everything(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 1)
    refused = TransportError(FailureKind.HTTP, "HTTP 401 (Unauthorized)", status=401)
    collection, time = MemoryCollection(faults=[fail_times(1, refused)]), Time()
    with pytest.raises(PartnerError, match=r"refused us.*check taxii\.user") as caught:
        sharer(queue, collection, time).run()
    assert caught.value.status == 401 and not caught.value.retryable and time.slept == []
    assert Outbox(queue, "us-partner").counts() == {"queued": 4}
    sharer(queue, collection, time).run()
    exactly_once(queue, collection)


def test_a_partial_failure_is_retried_object_by_object(packager: Packager, queue: Queue) -> None:
    approved(packager, queue, 3)
    collection, time = MemoryCollection(), Time()
    victims: list[str] = []

    def partial(request: str, argument: Any) -> StatusReport | None:
        if request != "add" or victims:
            return None
        import json

        objects = json.loads(argument)["objects"]
        victims.extend(o["id"] for o in objects[-2:])
        for o in objects[:-2]:  # the server takes all but the last two
            collection.add_raw(o)
        kept = tuple((o["id"], o.get("modified") or o["created"]) for o in objects[:-2])
        lost = tuple((o["id"], o.get("modified") or o["created"], "database busy") for o in objects[-2:])
        raise _Replaced(StatusReport("partial", True, kept, lost, (), len(objects), len(kept)))

    original = collection.add_objects

    def add(body: bytes) -> StatusReport:
        try:
            return original(body)
        except _Replaced as replaced:
            collection.statuses[replaced.status.id] = replaced.status
            return replaced.status

    collection.faults.append(partial)
    collection.add_objects = add  # type: ignore[method-assign]
    report = sharer(queue, collection, time).run()
    assert report.requests == 3  # the batch, then each failed object alone
    exactly_once(queue, collection)


class _Replaced(Exception):
    def __init__(self, status: StatusReport) -> None:
        self.status = status


def test_a_version_the_partner_already_holds_is_not_sent_twice(packager: Packager, queue: Queue) -> None:
    """An answer lost after the server took the objects: the next attempt asks first."""
    approved(packager, queue, 2)
    collection, time = MemoryCollection(), Time()
    original = collection.add_objects
    lost = [True]

    def add(body: bytes) -> StatusReport:
        status = original(body)
        if lost[0]:
            lost[0] = False
            raise TransportError(FailureKind.TIMEOUT, "no answer in time")
        return status

    collection.add_objects = add  # type: ignore[method-assign]
    report = sharer(queue, collection, time).run()
    assert report.found_there == 6 and report.delivered == 0
    exactly_once(queue, collection)


class Killed(BaseException):
    """The process dies here (a BaseException: nothing catches it)."""


class Dying:
    """A transport that kills the run at its ``at``-th call, before or after the call took effect."""

    def __init__(self, inner: MemoryCollection, at: int, after: bool) -> None:
        self.inner, self.at, self.after, self.calls = inner, at, after, 0

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.at and not self.after:
            raise Killed
        result = getattr(self.inner, name)(*args, **kwargs)
        if self.calls == self.at:
            raise Killed
        return result

    def max_content_length(self) -> int:
        return int(self._call("max_content_length"))

    def add_objects(self, body: bytes) -> StatusReport:
        return self._call("add_objects", body)  # type: ignore[no-any-return]

    def get_status(self, status_id: str) -> StatusReport:
        return self._call("get_status", status_id)  # type: ignore[no-any-return]

    def get_objects(self, **kwargs: Any) -> Any:
        return self._call("get_objects", **kwargs)

    def present(self, object_ids: Sequence[str]) -> set[tuple[str, str]]:
        return self._call("present", object_ids)  # type: ignore[no-any-return]

    def close(self) -> None:
        return None


@pytest.mark.parametrize("after", [False, True])
def test_killed_at_any_call_then_restarted_delivers_exactly_once(tmp_path: Path, after: bool) -> None:
    from tests.exchange.conftest import site_policy

    policy = site_policy(tmp_path)
    for at in range(1, 30):
        folder = tmp_path / f"{after}-{at}"
        folder.mkdir()
        audit = MemoryAudit()
        queue = Queue(folder / "q.sqlite", audit, clock=Clock())
        packager = Packager(policy, exchange_config(), queue, clock=Clock())
        approved(packager, queue, 12)
        collection, time = MemoryCollection(content_limit=8_000), Time()
        with contextlib.suppress(Killed):
            sharer(queue, Dying(collection, at, after), time).run()
        queue.close()
        restarted = Queue(folder / "q.sqlite", audit)
        sharer(restarted, collection, time).run()
        exactly_once(restarted, collection)
        published = [e for e in audit.entries if e[1] == "exchange.publish"]
        items = [i for e in published for i in e[3]["items_published"]]
        assert sorted(items) == list(range(1, 13))  # each item published once, in the ledger once
        restarted.close()
