"""Grouping helpers on numpy columns: a count sketch to discard the crowd, then exact groups.

Most keys in a window (a client and a server, a source and a service) have a row or two; a
finding needs dozens. :func:`could_reach` drops, in one pass, every row whose key cannot
reach a threshold: the rows are summed per hash bucket, and a bucket holds the sum of all
its keys, so a key below the threshold in its bucket is below it on its own (no key that
could fire is ever dropped). The few rows left are sorted and grouped exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

U64: TypeAlias = npt.NDArray[np.uint64]
I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]
Bool: TypeAlias = npt.NDArray[np.bool_]
Columns: TypeAlias = dict[str, npt.NDArray[Any]]

_MAX_BUCKETS = 1 << 22


def _buckets(n: int) -> int:
    """A power of two about the number of rows (a bucket holds one or two keys), at most 4M."""
    size = 1 << 10
    while size < n and size < _MAX_BUCKETS:
        size <<= 1
    return size


def could_reach(keys: U64, threshold: float, weights: npt.NDArray[np.generic] | None = None) -> Bool:
    """Rows whose key's total weight (default: its number of rows) may reach ``threshold``."""
    if len(keys) == 0:
        return np.zeros(0, np.bool_)
    size = _buckets(len(keys))
    bucket = (keys & np.uint64(size - 1)).astype(np.int64)
    totals = np.bincount(bucket, weights=weights, minlength=size)
    return np.asarray(totals[bucket] >= threshold, dtype=np.bool_)


def sketch(key: str, threshold: float, weight: str | None = None) -> Callable[[list[Columns]], list[Bool]]:
    """A prefilter (_windows.py) keeping the rows whose ``key`` column may reach ``threshold``
    (summed over every part: rows, or the ``weight`` column)."""

    def keep(parts: list[Columns]) -> list[Bool]:
        n = sum(len(p[key]) for p in parts)
        size = _buckets(n)
        mask = np.uint64(size - 1)
        bucket = (np.concatenate([p[key] for p in parts]) & mask).astype(np.intp)
        weights = None if weight is None else np.concatenate([p[weight] for p in parts])
        totals = np.bincount(bucket, weights=weights, minlength=size)
        passed = totals[bucket] >= threshold
        edges = np.cumsum([len(p[key]) for p in parts])[:-1]
        return list(np.split(passed, edges))

    return keep


def member(values: U64, wanted: U64) -> Bool:
    """``np.isin(values, wanted)`` for a few wanted keys among many values, in one pass mostly."""
    if len(wanted) == 0 or len(values) == 0:
        return np.zeros(len(values), np.bool_)
    size = _buckets(len(wanted))
    mask = np.uint64(size - 1)
    table = np.zeros(size, np.bool_)
    table[(wanted & mask).astype(np.int64)] = True
    maybe = np.flatnonzero(table[(values & mask).astype(np.int64)])
    out = np.zeros(len(values), np.bool_)
    out[maybe] = np.isin(values[maybe], wanted)
    return out


@dataclass(frozen=True, eq=False)
class Groups:
    """Rows sorted by key: ``order`` sorts them, group g is ``order[starts[g]:starts[g] + sizes[g]]``."""

    order: I64
    starts: I64
    sizes: I64
    keys: U64

    def __len__(self) -> int:
        return len(self.starts)

    def sum(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if len(self.starts) == 0:
            return np.zeros(0, dtype=values.dtype)
        result: npt.NDArray[Any] = np.add.reduceat(values[self.order], self.starts)
        return result

    def min(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if len(self.starts) == 0:
            return np.zeros(0, dtype=values.dtype)
        result: npt.NDArray[Any] = np.minimum.reduceat(values[self.order], self.starts)
        return result

    def max(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if len(self.starts) == 0:
            return np.zeros(0, dtype=values.dtype)
        result: npt.NDArray[Any] = np.maximum.reduceat(values[self.order], self.starts)
        return result

    def label(self) -> I64:
        """The group number of every row (in the original row order)."""
        out = np.empty(len(self.order), np.int64)
        out[self.order] = np.repeat(np.arange(len(self.starts)), self.sizes)
        return out

    def rows(self, group: int) -> I64:
        return self.order[self.starts[group] : self.starts[group] + self.sizes[group]]


def group(keys: U64, *then: npt.NDArray[np.generic]) -> Groups:
    """Group rows by ``keys``; within a group rows are ordered by ``then`` (first column first)."""
    order = np.lexsort((*reversed(then), keys)) if then else np.argsort(keys, kind="stable")
    order = order.astype(np.int64)
    ordered = keys[order]
    if len(ordered) == 0:
        empty = np.zeros(0, np.int64)
        return Groups(order, empty, empty, np.zeros(0, np.uint64))
    head = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])).astype(np.int64)
    sizes = np.diff(np.concatenate([head, [len(ordered)]])).astype(np.int64)
    return Groups(order, head, sizes, ordered[head])


def distinct_per_group(keys: U64, sub: U64) -> tuple[Groups, I64]:
    """Groups of ``keys``, and how many distinct ``sub`` values each group holds."""
    pairs = group(keys, sub)
    sub_sorted = sub[pairs.order]
    first = np.ones(len(sub_sorted), np.bool_)
    if len(sub_sorted):
        first[1:] = sub_sorted[1:] != sub_sorted[:-1]
        first[pairs.starts] = True
    counts = np.add.reduceat(first.astype(np.int64), pairs.starts) if len(pairs) else np.zeros(0, np.int64)
    return pairs, counts


def grouped_median(values: F64, labels: I64, n_groups: int) -> F64:
    """The median of ``values`` within each group (``labels`` 0..n_groups-1, every group non-empty)."""
    order = np.lexsort((values, labels))
    ordered = values[order]
    sizes = np.bincount(labels, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    low = ordered[starts + (sizes - 1) // 2]
    high = ordered[starts + sizes // 2]
    return np.asarray((low + high) / 2.0, dtype=np.float64)


def spread(start: I64, end: I64, width: int, max_pieces: int) -> tuple[I64, I64, F64]:
    """Cut flows into pieces, one per window they overlap, with the share of the flow in each.

    Returns the row each piece comes from, its window and its share (shares of a flow sum
    to 1; a flow of zero duration has one piece). At most ``max_pieces`` pieces a flow, the
    latest: a longer flow's earliest part is given to its first kept window.
    """
    end = np.maximum(end, start)
    first = start // width
    last = end // width
    first_kept = np.maximum(first, last - max_pieces + 1)
    count = last - first_kept + 1
    if (count == 1).all():
        return np.arange(len(start), dtype=np.int64), first, np.ones(len(start), np.float64)
    row = np.repeat(np.arange(len(start), dtype=np.int64), count)
    offset = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    window = first_kept[row] + offset
    low = np.where(offset == 0, start[row], window * width)
    high = np.minimum(end[row], (window + 1) * width)
    duration = (end - start)[row]
    share = np.where(duration > 0, (high - low) / np.maximum(duration, 1), 1.0)
    return row, window, share.astype(np.float64)
