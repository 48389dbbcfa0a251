"""Reading ahead and writing behind on threads, so a collect run keeps the engine busy.

The compiled kernels release the GIL, and so do mmap page faults and Arrow's compute and
file writes; a file source's next batch is walked and the last batch's records are gated,
encoded and written on other threads while the engine decodes. Both stages hold at most
``depth`` items, so memory stays bounded, and both keep order. A failure on a thread is
raised in the caller at its next call, as the same exception.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL = 0.05  # seconds between looks at the stop flag while a queue is full


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items`` iterated on a thread, at most ``depth`` ahead of the caller.

    Closing the returned iterator early (``break``, an exception) stops the thread and
    closes ``items`` there, the thread that iterated it.
    """
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(done: bool, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((done, value), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(False, item):
                    return
            offer(True, None)
        except BaseException as exc:  # handed to the caller, raised there
            offer(True, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="metagate-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            done, value = handoff.get()
            if done:
                if isinstance(value, BaseException):
                    raise value
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=_POLL)
        thread.join()


class WriteBehind(Generic[T]):
    """``consume`` called on a thread for each item ``put``, in order, at most ``depth`` waiting.

    ``start``, when given, runs first on that thread (what the consumer needs set up). After
    a failure the rest is discarded, and ``put``, ``drain`` and ``close`` raise it.
    """

    _END = object()
    _START = object()

    def __init__(
        self, consume: Callable[[T], None], depth: int = 2, *, start: Callable[[], None] | None = None
    ) -> None:
        self._consume = consume
        self._start = start
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth + (start is not None))
        self._failure: BaseException | None = None
        if start is not None:
            self._queue.put(self._START)  # drain() waits for it as for any item
        self._thread = threading.Thread(target=self._work, name="metagate-write-behind", daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        self._raise_failure()
        self._queue.put(item)

    def drain(self) -> None:
        """Wait until everything put so far has been consumed."""
        self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Consume what is left, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(self._END)
            self._thread.join()
        self._raise_failure()

    def abort(self) -> None:
        """End the thread after the item it is on; what still waits is dropped. Never raises."""
        if self._failure is None:
            self._failure = _Aborted()
        while True:
            try:
                self._queue.get_nowait()
                self._queue.task_done()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._queue.put(self._END)
            self._thread.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is self._END:
                    return
                if item is self._START:
                    if self._start is not None:
                        self._start()
                elif self._failure is None:
                    self._consume(item)  # type: ignore[arg-type]
            except BaseException as exc:  # kept for the caller
                self._failure = exc
            finally:
                self._queue.task_done()

    def _raise_failure(self) -> None:
        if self._failure is not None and not isinstance(self._failure, _Aborted):
            raise self._failure


class _Aborted(Exception):
    """Marks a stage that was aborted: nothing more is consumed, and nothing is raised."""
