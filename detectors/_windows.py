"""Windows on flow time: what a detector holds, when it evaluates, when it forgets.

Flow time is cut into windows of ``width`` seconds from the epoch (window k covers
[k·width, (k+1)·width)); a flow belongs to the window of its start. Window k *closes* when
the watermark (the latest flow start seen) passes its end by ``lateness`` seconds: flow
records arrive when flows end, up to an active timeout after they started, so a window
stays open that long for its stragglers. A record whose window has already closed when it
arrives is late: it is counted and dropped.

When window k closes the detector evaluates windows k-1 and k together: a burst no longer
than one window always lies whole in one evaluation, wherever the window edges fall. Window
k-1 is then forgotten. (A store without ``pairs`` evaluates each window alone, tumbling.)
So a detector holds at most two windows plus the lateness of rows, never more, whatever
the length of the input; ``max_rows`` bounds even that (rows beyond it
are counted and dropped).

Both rules look only at flow times and the order of the records: the same records give the
same evaluations however they are cut into batches and however fast they are read. (The
``max_rows`` bound is the exception: when it is hit, which rows it drops can depend on where
the batches were cut; the count of dropped rows says when that happened.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from detectors._flows import FlowBatch
from detectors._keys import Names, resolve

I64: TypeAlias = npt.NDArray[np.int64]
Columns: TypeAlias = dict[str, npt.NDArray[Any]]
Bool: TypeAlias = npt.NDArray[np.bool_]
# which rows of each part an evaluation needs (all, when there is no prefilter)
Prefilter: TypeAlias = Callable[[list[Columns]], list[Bool]]
US = 1_000_000


# Rows taking at least this share of a batch keep a reference to its flow id and address
# columns (shared by every detector); fewer rows keep copies of their own, so that a few
# rows held for hours (the slow scan tier) do not keep whole batches alive.
_SHARE_IDS = 0.25


@dataclass(frozen=True, eq=False)
class _Part:
    columns: Columns
    ids: pa.Array  # flow ids: the part's own, or the batch's whole column
    at: I64 | None  # where each row's id is in ``ids`` (None: in order)
    names: tuple[Names, ...]

    def __len__(self) -> int:
        return len(self.ids) if self.at is None else len(self.at)


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows of one evaluation (windows k-1 and k), column-wise."""

    window: int
    start_us: int  # the evaluation's span: [start_us, end_us)
    end_us: int
    columns: Columns
    ids: pa.ChunkedArray
    id_at: I64  # row i's flow id is ids[id_at[i]]
    names: list[Names]
    row_window: I64  # the window each row belongs to (k-1 or k)
    parts: list[Columns]  # every row of the windows, before the prefilter (shared, not copied)
    _texts: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.id_at)

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.columns[name]

    def text_of(self, keys: npt.NDArray[np.uint64]) -> dict[int, str]:
        """The address text of each key (resolved once per evaluation: see :meth:`prefetch`)."""
        missing = [k for k in np.unique(keys).tolist() if k not in self._texts]
        if missing:
            self._texts.update(resolve(self.names, np.array(missing, np.uint64)))
        return self._texts

    def prefetch(self, *columns: str, rows: I64 | None = None) -> None:
        """Resolve the keys of ``columns`` (at ``rows``) in one pass, before the findings of an evaluation."""
        keys = [self.columns[c] if rows is None else self.columns[c][rows] for c in columns]
        if keys:
            self.text_of(np.concatenate(keys))

    def flow_ids(self, rows: I64) -> list[str]:
        return [str(v) for v in self.ids.take(pa.array(self.id_at[rows], type=pa.int64())).to_pylist()]


@dataclass
class StoreStats:
    held: int = 0
    peak: int = 0
    late: int = 0
    over_bound: int = 0
    evaluations: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "held": self.held,
            "peak": self.peak,
            "late": self.late,
            "over_bound": self.over_bound,
            "evaluations": self.evaluations,
        }


@dataclass
class WindowStore:
    """The rows a detector keeps for its windows, and the schedule of their evaluations."""

    width_s: int
    lateness_s: int
    max_rows: int
    pairs: bool = True
    stats: StoreStats = field(default_factory=StoreStats)
    _parts: dict[int, list[_Part]] = field(default_factory=dict)
    _evaluated: int | None = None  # the last window evaluated

    @property
    def width(self) -> int:
        return self.width_s * US

    def window_of(self, times_us: I64) -> I64:
        return times_us // self.width

    def add(self, batch: FlowBatch, rows: I64, columns: Columns, window: I64 | None = None) -> None:
        """Keep ``columns`` (one value per selected row) for the rows ``rows`` of ``batch``.

        ``window`` is each row's window (default: that of its start); rows whose window had
        closed when they arrived are late and dropped.
        """
        if len(rows) == 0:
            return
        if window is None:
            window = self.window_of(batch.start[rows])
        on_time = (window + 1) * self.width + self.lateness_s * US > batch.prior_watermark[rows]
        if self._evaluated is not None:
            on_time &= window > self._evaluated
        if not on_time.all():
            self.stats.late += int((~on_time).sum())
            rows, window = rows[on_time], window[on_time]
            columns = {name: values[on_time] for name, values in columns.items()}
        room = self.max_rows - self.stats.held
        if len(rows) > room:
            self.stats.over_bound += len(rows) - max(room, 0)
            keep = max(room, 0)
            rows, window = rows[:keep], window[:keep]
            columns = {name: values[:keep] for name, values in columns.items()}
        if len(rows) == 0:
            return
        names: tuple[Names, ...]
        if len(rows) >= _SHARE_IDS * batch.n:
            ids, at, names = batch.flow_id, rows, batch.names
        else:
            taken = pa.array(rows)
            ids, at = batch.flow_id.take(taken), None
            names = tuple(Names(n.keys[rows], n.text.take(taken)) for n in batch.names)
        low, high = int(window.min()), int(window.max())
        if low == high:
            self._keep(low, _Part(columns, ids, at, names))
        else:
            order = np.argsort(window, kind="stable")
            window = window[order]
            columns = {name: values[order] for name, values in columns.items()}
            at = order if at is None else at[order]
            bounds = np.flatnonzero(np.diff(window)) + 1
            for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(window)]]), strict=True):
                part_columns = {name: values[lo:hi] for name, values in columns.items()}
                self._keep(int(window[lo]), _Part(part_columns, ids, at[lo:hi], names))
        self.stats.held += len(rows)
        self.stats.peak = max(self.stats.peak, self.stats.held)

    def _keep(self, window: int, part: _Part) -> None:
        self._parts.setdefault(window, []).append(part)

    def ready(self, watermark: int | None) -> list[int]:
        """Windows whose evaluation is due at ``watermark`` (None: all, at the end), in order."""
        due: set[int] = set()
        for k in self._parts:
            due.update((k, k + 1) if self.pairs else (k,))
        if self._evaluated is not None:
            due = {k for k in due if k > self._evaluated}
        if watermark is not None:
            due = {k for k in due if (k + 1) * self.width + self.lateness_s * US <= watermark}
        return sorted(due)

    def evaluate(self, k: int, prefilter: Prefilter | None = None) -> Rows:
        """The rows of windows k-1 and k (k alone without pairs) that ``prefilter`` keeps.

        What no later evaluation needs is forgotten.
        """
        first = k - 1 if self.pairs else k
        windowed = [(w, p) for w in range(first, k + 1) for p in self._parts.get(w, [])]
        parts = [p for _, p in windowed]
        self._evaluated = k
        self.stats.evaluations += 1
        for old in [w for w in self._parts if w < k or (w == k and not self.pairs)]:
            self.stats.held -= sum(len(p) for p in self._parts.pop(old))
        masks = prefilter([p.columns for p in parts]) if prefilter is not None and parts else None
        names = list({id(n): n for p in parts for n in p.names}.values())
        chunks: dict[int, tuple[int, pa.Array]] = {}
        at_parts, window_parts = [], []
        column_parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in (parts[0].columns if parts else {})}
        offset = 0
        for i, (w, p) in enumerate(windowed):
            keep = None if masks is None else np.flatnonzero(masks[i])
            if keep is not None and len(keep) == 0:
                continue
            if id(p.ids) not in chunks:
                chunks[id(p.ids)] = (offset, p.ids)
                offset += len(p.ids)
            at = np.arange(len(p.ids), dtype=np.int64) if p.at is None else p.at
            at_parts.append(chunks[id(p.ids)][0] + (at if keep is None else at[keep]))
            window_parts.append(np.full(len(at_parts[-1]), w, np.int64))
            for name, values in p.columns.items():
                column_parts[name].append(values if keep is None else values[keep])
        ids = pa.chunked_array([array for _, array in chunks.values()], type=pa.string())
        id_at = np.concatenate(at_parts) if at_parts else np.zeros(0, np.int64)
        row_window = np.concatenate(window_parts) if window_parts else np.zeros(0, np.int64)
        columns = {name: np.concatenate(values) for name, values in column_parts.items() if values}
        everything = [p.columns for p in parts]
        return Rows(k, first * self.width, (k + 1) * self.width, columns, ids, id_at, names, row_window, everything)


class Continuity:
    """Groups that fired in the previous evaluation, whose rows of the shared window are reported already.

    Evaluation k sees windows k-1 and k. A group that fired in evaluation k-1 (windows k-2
    and k-1) and fires again reports only its rows of window k, and only when those alone
    hold to the detector's rule at half its thresholds (one window is half an evaluation):
    an attack lasting many windows gives one finding a window, no flow in two of them, and
    a trickle after it (the target's ordinary traffic once a flood stops) is not reported
    as more of the same.
    """

    def __init__(self) -> None:
        self._fired: dict[int, int] = {}

    def begin(self, window: int) -> None:
        """Forget what no evaluation from ``window`` on can continue."""
        self._fired = {key: at for key, at in self._fired.items() if at >= window - 1}

    def continues(self, key: int, window: int) -> bool:
        return self._fired.get(key) == window - 1

    def report(self, rows: Rows, key: int, picked: I64, holds: Callable[[I64], bool]) -> tuple[I64, bool]:
        """The rows of ``picked`` to report for group ``key`` (none: nothing to report), and whether it
        continues; records the firing. ``holds(rows)`` says whether a window's rows alone keep to the rule
        at half the thresholds."""
        continued = self.continues(key, rows.window)
        if continued:
            picked = picked[rows.row_window[picked] == rows.window]
            if len(picked) and not holds(picked):
                picked = picked[:0]
        if len(picked):
            self._fired[key] = rows.window
        return picked, continued
