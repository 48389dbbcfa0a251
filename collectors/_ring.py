"""A capture-ring directory, as ``dumpcap -b files:N`` or ``tcpdump -G/-C`` leave it.

The writer names its files in order (``x_00001_2026...pcapng``, ``cap``, ``cap1``, ...), so
natural name order is age order. While the writer runs, the newest file is still being
written: in follow mode a file is read only once a newer one exists. ``consumed`` and
``skip`` let the collect loop checkpoint the ring and resume after a restart without
reading a file twice or missing one.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from collectors._packets import PacketBatch
from collectors._pcapfile import DEFAULT_BATCH, FileSource, is_capture
from policies import CaptureError

SUFFIXES = frozenset({".pcap", ".pcapng", ".cap"})
_DIGITS = re.compile(r"(\d+)")
_NAP = 0.05
"""Longest sleep between looks at the stop flag: ``stop`` is a plain flag (safe to set from a
signal handler), so waiting is done in short naps rather than on a lock."""


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs as numbers: ``cap`` < ``cap2`` < ``cap10``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part)


class RingSource:
    """The capture files of one directory, oldest first; with ``follow``, until stopped."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        follow: bool = False,
        skip: frozenset[str] = frozenset(),
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.origin = str(directory)
        self.follow = follow
        self.skip = frozenset(skip)
        self.poll_interval = poll_interval
        self.problems: list[CaptureError] = []
        self.consumed: list[str] = []
        self._failed: set[str] = set()
        self._stopped = False
        self._current: FileSource | None = None

    def stop(self) -> None:
        """Make :meth:`batches` return promptly (between batches, or from its wait for a new file)."""
        self._stopped = True
        current = self._current
        if current is not None:
            current.stop()

    def batches(self, batch_size: int = DEFAULT_BATCH) -> Iterator[PacketBatch]:
        """Every packet of the ring's files in file order; each file's last batch has ``last_of_origin``."""
        while not self._stopped:
            ready = self._ready()
            for name in ready:
                if self._stopped:
                    return
                yield from self._read(name, batch_size)
            if not self.follow:
                return
            if not ready:
                self._wait()

    def _ready(self) -> list[str]:
        """Names to read now, oldest first: not yet read, and (when following) not the newest."""
        names, newest_hint = self._listing()
        done = self.skip | set(self.consumed) | self._failed
        if self.follow and names:
            names = names[:-1] if newest_hint is None or natural_key(newest_hint) <= natural_key(names[-1]) else names
        return [name for name in names if name not in done]

    def _listing(self) -> tuple[list[str], str | None]:
        """The ring's capture files in natural order, and the newest name that may become one.

        tcpdump ``-C`` writes unsuffixed names and buffers the header of a fresh file, so a
        new file that is still too short to show its magic counts as newer without being read.
        """
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            raise CaptureError(f"cannot list the ring: {exc.strerror or exc}", path=self.directory) from exc
        names: list[str] = []
        fresh: list[str] = []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not _is_file(entry):
                continue
            if Path(name).suffix.lower() in SUFFIXES or is_capture(Path(entry.path)):
                names.append(name)
            elif _size(entry) < 24:
                fresh.append(name)
        names.sort(key=natural_key)
        stems = {_DIGITS.sub("", n) for n in names}
        fresh = [n for n in fresh if _DIGITS.sub("", n) in stems]
        newest = max(fresh, key=natural_key) if fresh else None
        return names, newest

    def _read(self, name: str, batch_size: int) -> Iterator[PacketBatch]:
        path = self.directory / name
        try:
            source = FileSource(path)
            self._current = source
            if self._stopped:
                return
            seen = 0
            for batch in source.batches(batch_size):
                self.problems.extend(source.problems[seen:])
                seen = len(source.problems)
                if batch.last_of_origin:
                    self.consumed.append(name)
                yield batch
        except CaptureError as exc:
            self.problems.append(exc)
            self._failed.add(name)
        finally:
            self._current = None

    def _wait(self) -> None:
        deadline = time.monotonic() + self.poll_interval
        while not self._stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, _NAP))


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except OSError:
        return 0
