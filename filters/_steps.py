"""The gate's steps: each takes a batch and gives a batch, each counts what it did and why.

``scope`` decides every flow (policies' decision engine) and keeps the allowed ones;
``allowlist`` rebuilds each record from the profile's allowed fields only; ``pseudonymize``
replaces the addresses the profile names and re-keys flow ids; ``retention`` stamps the
date after which a record must be deleted. Every count is keyed by the step's name and a
reason that names the profile clause or approval behind it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from filters._flowids import flow_id_subkey, rekey_flow_ids, rekey_id_lists
from filters._pseudomemo import PseudonymMemo
from filters._pseudonymizer import Pseudonymizer
from filters._schema import GATE_FIELDS
from filters._textaddr import parse_column
from policies import DecisionEngine, KeyRing, Network, ParsedAddresses, PseudonymScope, in_prefixes

_Bool = npt.NDArray[np.bool_]
_US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class GateBatch:
    """Records on their way through the gate, with their addresses parsed once by the scope step
    and the sides it found domestic."""

    table: pa.Table
    orig_domestic: _Bool
    resp_domestic: _Bool
    orig: ParsedAddresses | None = None
    resp: ParsedAddresses | None = None

    def filter(self, keep: _Bool) -> GateBatch:
        if keep.all():  # the common case at a tap under approval: no copy
            return self
        return GateBatch(
            self.table.filter(pa.array(keep)),
            self.orig_domestic[keep],
            self.resp_domestic[keep],
            None if self.orig is None else self.orig.select(keep),
            None if self.resp is None else self.resp.select(keep),
        )

    def parsed(self, column: str) -> ParsedAddresses:
        known = self.orig if column == "orig_addr" else self.resp
        return known if known is not None else parse_column(self.table[column])


Counts = dict[str, Counter[str]]


class Step(Protocol):
    name: str

    def __call__(self, batch: GateBatch, counts: Counts) -> GateBatch: ...


def _micros(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), np.int64)


class ScopeStep:
    """Traffic class and approval for every flow; only allowed flows go on."""

    name = "scope"

    def __init__(self, engine: DecisionEngine) -> None:
        self.engine = engine

    def __call__(self, batch: GateBatch, counts: Counts) -> GateBatch:
        table = batch.table
        orig, resp = parse_column(table["orig_addr"]), parse_column(table["resp_addr"])
        decisions = self.engine.decide_parsed(orig, resp, _micros(table["start"]), _micros(table["end"]))
        counts[self.name].update(decisions.counts())
        table = table.append_column(GATE_FIELDS[0], decisions.class_names())
        table = table.append_column(GATE_FIELDS[1], decisions.approval_ids())
        batch = GateBatch(table, decisions.orig_domestic, decisions.resp_domestic, orig, resp)
        return batch.filter(decisions.allow)


class AllowlistStep:
    """A new record from the allowed fields and the gate's columns; nothing else is copied."""

    name = "allowlist"

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def __call__(self, batch: GateBatch, counts: Counts) -> GateBatch:
        table = batch.table
        removed = [name for name in table.column_names if name not in self.schema.names]
        for name in removed:
            column = table[name]
            if values := len(column) - column.null_count:
                counts[self.name][f"field {name} not allowed"] += values
        built = {name: table[name] for name in table.column_names if name in self.schema.names}
        return replace(batch, table=pa.table(built))


class PseudonymizeStep:
    """The addresses the profile names, replaced under the key in force at each flow's start."""

    name = "pseudonymize"

    def __init__(
        self,
        scope: PseudonymScope,
        make: dict[str, Pseudonymizer],
        keys: KeyRing,
        subscriber: tuple[Network, ...] = (),
    ) -> None:
        self.scope = scope
        self.make = make
        self.keys = keys
        self.subscriber = subscriber
        # each key's pseudonyms remembered across batches
        self._memos = {key_id: PseudonymMemo(p) for key_id, p in make.items()}

    def _targets(self, batch: GateBatch, column: str, domestic: _Bool) -> _Bool:
        n = batch.table.num_rows
        if self.scope is PseudonymScope.ALL:
            return np.ones(n, np.bool_)
        if self.scope is PseudonymScope.DOMESTIC:
            return domestic
        if self.scope is PseudonymScope.SUBSCRIBER:
            return in_prefixes(batch.parsed(column), self.subscriber)
        return np.zeros(n, np.bool_)

    def __call__(self, batch: GateBatch, counts: Counts) -> GateBatch:
        n = batch.table.num_rows
        if self.scope is PseudonymScope.NONE or n == 0:
            return self._stamp(batch, None, None)
        index = self.keys.index_at(_micros(batch.table["start"]))
        before = index < 0
        if before.any():
            counts[self.name]["dropped: no key in force at the flow's start"] += int(before.sum())
            batch, index = batch.filter(~before), index[~before]
        groups = np.unique(index)
        if len(groups) == 1:  # one key in force for the whole batch: no split, no reordering
            key = self.keys.keys[int(groups[0])]
            pseudonymizer = self.make[key.id]
            counts[self.name][f"{pseudonymizer.method} under key {key.id}"] += len(index)
            part = self._apply(batch, key.id, flow_id_subkey(key.material))
            return self._stamp(part, pseudonymizer.method, key.id)
        parts, order = [], []
        for k in groups:
            rows = index == k
            key = self.keys.keys[int(k)]
            pseudonymizer = self.make[key.id]
            part = self._apply(batch.filter(rows), key.id, flow_id_subkey(key.material))
            parts.append(self._stamp(part, pseudonymizer.method, key.id).table)
            order.append(np.flatnonzero(rows))
            counts[self.name][f"{pseudonymizer.method} under key {key.id}"] += int(rows.sum())
        if not parts:
            return self._stamp(batch, None, None)
        merged = pa.concat_tables(parts)
        inverse = np.empty(len(index), np.int64)
        inverse[np.concatenate(order)] = np.arange(len(index))
        nothing = np.zeros(len(index), np.bool_)
        return GateBatch(merged.take(pa.array(inverse)), nothing, nothing)

    def _apply(self, batch: GateBatch, key_id: str, subkey: bytes) -> GateBatch:
        table = batch.table
        memo = self._memos[key_id]
        for column, domestic in (("orig_addr", batch.orig_domestic), ("resp_addr", batch.resp_domestic)):
            targets = self._targets(batch, column, domestic)
            if targets.any():
                values = table[column].combine_chunks()
                replaced = memo.replace(values, batch.parsed(column), targets)
                i = table.schema.get_field_index(column)
                table = table.set_column(i, table.schema.field(i), replaced)
        # flow ids are unkeyed hashes of the clear tuple: re-keyed whenever anything is pseudonymized
        for column, rekey in (("flow_id", rekey_flow_ids), ("tunnel_parents", rekey_id_lists)):
            if column in table.column_names:
                i = table.schema.get_field_index(column)
                table = table.set_column(i, table.schema.field(i), rekey(table[column].combine_chunks(), subkey))
        return replace(batch, table=table)

    @staticmethod
    def _stamp(batch: GateBatch, method: str | None, key_id: str | None) -> GateBatch:
        n = batch.table.num_rows
        table = batch.table
        for spec, value in ((GATE_FIELDS[2], method), (GATE_FIELDS[3], key_id)):
            table = table.append_column(spec, pa.repeat(pa.scalar(value, pa.string()), n))
        return replace(batch, table=table)


class RetentionStep:
    """Each record stamped with the time after which retention deletes it."""

    name = "retention"

    def __init__(self, days: int, policy_name: str) -> None:
        self.days = days
        self.policy_name = policy_name

    def __call__(self, batch: GateBatch, counts: Counts) -> GateBatch:
        table = batch.table
        until = pc.add(pc.cast(table["end"], pa.int64()), self.days * _US_PER_DAY)
        table = table.append_column(GATE_FIELDS[4], pc.cast(until, GATE_FIELDS[4].type))
        table = table.append_column(GATE_FIELDS[5], pa.repeat(pa.scalar(self.policy_name, pa.string()), table.num_rows))
        counts[self.name][f"kept {self.days} days"] += table.num_rows
        return replace(batch, table=table)
