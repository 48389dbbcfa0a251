"""Reading ahead and writing behind: order, bounds, failures and early ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from collectors._pipeline import WriteBehind, read_ahead


class Produced:
    """An iterator that records how far it was drawn, on which thread, and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.drawn = 0
        self.closed = False
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        try:
            for k in range(self.count):
                self.threads.add(threading.current_thread().name)
                if k == self.fail_at:
                    raise OSError(f"item {k} unreadable")
                self.drawn = k + 1
                yield k
        finally:
            self.closed = True


def test_read_ahead_keeps_order_and_runs_elsewhere() -> None:
    produced = Produced(500)
    assert list(read_ahead(iter(produced))) == list(range(500))
    assert produced.closed
    assert produced.threads == {"metagate-read-ahead"}


def test_read_ahead_is_bounded() -> None:
    produced = Produced(100)
    items = read_ahead(iter(produced), depth=3)
    assert next(items) == 0
    time.sleep(0.3)
    # one handed out, three waiting, one held by the producer while the queue is full
    assert produced.drawn <= 5
    items.close()


def test_read_ahead_raises_the_producers_error_after_what_came_before() -> None:
    got: list[int] = []
    with pytest.raises(OSError, match="item 7 unreadable"):
        for item in read_ahead(iter(Produced(20, fail_at=7))):
            got.append(item)
    assert got == list(range(7))


def test_read_ahead_closed_early_stops_and_closes_the_source() -> None:
    produced = Produced(10_000)
    for item in read_ahead(iter(produced)):
        if item == 3:
            break
    assert produced.closed
    assert produced.drawn < 10
    assert not [t for t in threading.enumerate() if t.name == "metagate-read-ahead"]


def test_write_behind_consumes_in_order_on_its_thread() -> None:
    seen: list[tuple[int, str]] = []
    behind: WriteBehind[int] = WriteBehind(lambda k: seen.append((k, threading.current_thread().name)))
    for k in range(300):
        behind.put(k)
    behind.drain()
    assert [k for k, _ in seen] == list(range(300))
    behind.put(300)
    behind.close()
    assert len(seen) == 301
    assert {name for _, name in seen} == {"metagate-write-behind"}


def test_write_behind_failure_is_raised_and_nothing_after_it_is_consumed() -> None:
    seen: list[int] = []

    def consume(k: int) -> None:
        if k == 5:
            raise OSError("disk full")
        seen.append(k)

    behind: WriteBehind[int] = WriteBehind(consume, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for k in range(100):
            behind.put(k)
    with pytest.raises(OSError, match="disk full"):
        behind.close()
    assert seen == [0, 1, 2, 3, 4]


def test_write_behind_drain_raises_a_failure() -> None:
    behind: WriteBehind[int] = WriteBehind(lambda k: 1 // k)
    behind.put(0)
    with pytest.raises(ZeroDivisionError):
        behind.drain()
    behind.abort()


def test_write_behind_abort_drops_what_waits_and_never_raises() -> None:
    gate = threading.Event()
    seen: list[int] = []

    def consume(k: int) -> None:
        gate.wait(5)
        seen.append(k)

    behind: WriteBehind[int] = WriteBehind(consume, depth=4)
    for k in range(4):
        behind.put(k)
    time.sleep(0.1)  # the worker is on item 0
    threading.Timer(0.2, gate.set).start()
    behind.abort()
    assert seen == [0]
    behind.abort()  # twice is harmless


def test_write_behind_start_runs_first_on_its_thread_and_drain_waits_for_it() -> None:
    seen: list[str] = []
    gate = threading.Event()

    def start() -> None:
        gate.wait(5)
        seen.append("start on " + threading.current_thread().name)

    behind: WriteBehind[int] = WriteBehind(lambda k: seen.append(f"item {k}"), start=start)
    threading.Timer(0.1, gate.set).start()
    behind.drain()  # nothing put yet: still waits for the set-up
    assert seen == ["start on metagate-write-behind"]
    behind.put(1)
    behind.close()
    assert seen == ["start on metagate-write-behind", "item 1"]


def test_write_behind_start_failure_is_raised_and_nothing_is_consumed() -> None:
    seen: list[int] = []

    def start() -> None:
        raise PermissionError("cannot open the output")

    behind: WriteBehind[int] = WriteBehind(seen.append, start=start)
    with pytest.raises(PermissionError, match="cannot open"):
        behind.drain()
    with pytest.raises(PermissionError, match="cannot open"):
        behind.put(1)
    with pytest.raises(PermissionError, match="cannot open"):
        behind.close()
    assert seen == []
