"""The legal gate: FlowRecord batches in, GatedRecord batches out, every decision counted.

A :class:`Gate` is built from one policy and its keys and applied to batch after batch.
It refuses what it does not understand (a column a FlowRecord does not have, a type that
does not cast, records gated under another policy) with :class:`policies.GateViolation`:
nothing of that batch passes. Records it has gated itself pass again unchanged, so the gate
is idempotent. :meth:`Gate.report` is what the audit ledger records for the run.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from collectors import FLOW_SCHEMA
from filters._cryptopan import CryptoPan
from filters._hmac import HmacPseudonymizer
from filters._pseudonymizer import Pseudonymizer
from filters._schema import GATE_FIELD_NAMES, REQUIRED_FIELDS, gated_schema
from filters._steps import AllowlistStep, Counts, GateBatch, PseudonymizeStep, RetentionStep, ScopeStep, Step
from filters._truncate import PrefixTruncator
from policies import DecisionEngine, GateViolation, Key, KeyRing, Policy, PseudonymMethod, load_keys


@dataclass(frozen=True)
class GateReport:
    """What one gate run did: the ledger's ``gate.run`` payload."""

    policy: str
    policy_source: str
    policy_digest: str
    key_ids: tuple[str, ...]
    records_in: int
    records_out: int
    input_sha256: str
    counts: dict[str, dict[str, int]]

    def payload(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policy_source": self.policy_source,
            "policy_sha256": self.policy_digest,
            "key_ids": list(self.key_ids),
            "records_in": self.records_in,
            "records_out": self.records_out,
            "input_records_sha256": self.input_sha256,
            "counts": self.counts,
        }


def policy_keys(policy: Policy) -> KeyRing:
    """The keys a policy references, read from where it says (relative to its file)."""
    base = None if policy.source.startswith("builtin:") else Path(policy.source).parent
    return load_keys(policy.keys, base=base, source=policy.source)


def make_pseudonymizer(policy: Policy, key: Key) -> Pseudonymizer:
    rule = policy.profile.pseudonymize
    if rule.method is PseudonymMethod.CRYPTOPAN:
        return CryptoPan(key.material, key.id)
    if rule.method is PseudonymMethod.HMAC:
        return HmacPseudonymizer(key.material, key.id)
    return PrefixTruncator(rule.truncate_v4, rule.truncate_v6)


class Gate:
    """The chain of steps of one policy; call it on each batch of flow records."""

    def __init__(self, policy: Policy, keys: KeyRing | None = None, *, now: datetime | None = None) -> None:
        policy.check_current(now or datetime.now(UTC))
        self.policy = policy
        self.schema = gated_schema(policy.profile.fields)
        self.keys = keys if keys is not None else policy_keys(policy)
        profile = policy.profile
        self.steps: list[Step] = [
            ScopeStep(DecisionEngine(policy)),
            AllowlistStep(self.schema),
            PseudonymizeStep(
                profile.pseudonymize.addresses,
                {key.id: make_pseudonymizer(policy, key) for key in self.keys.keys},
                self.keys,
                policy.subscriber,
            ),
            RetentionStep(profile.retention.days, policy.name),
        ]
        self.counts: Counts = defaultdict(Counter)
        self.records_in = 0
        self.records_out = 0
        self._digest = hashlib.sha256()

    def __call__(self, table: pa.Table) -> pa.Table:
        """Gate one batch; raises GateViolation (and passes nothing of it) on what it does not know."""
        if GATE_FIELD_NAMES & set(table.column_names):
            return self._regate(table)
        table = self._conform(table)
        _hash_ipc(table, self._digest)
        self.records_in += table.num_rows
        n = table.num_rows
        batch = GateBatch(table, np.zeros(n, np.bool_), np.zeros(n, np.bool_))
        for step in self.steps:
            batch = step(batch, self.counts)
        out = batch.table.select(self.schema.names).cast(self.schema)
        self.records_out += out.num_rows
        return out

    def report(self) -> GateReport:
        return GateReport(
            policy=self.policy.name,
            policy_source=self.policy.source,
            policy_digest=self.policy.digest,
            key_ids=self.keys.ids,
            records_in=self.records_in,
            records_out=self.records_out,
            input_sha256=self._digest.hexdigest(),
            counts={step: dict(sorted(c.items())) for step, c in sorted(self.counts.items())},
        )

    def _conform(self, table: pa.Table) -> pa.Table:
        unknown = [name for name in table.column_names if name not in FLOW_SCHEMA.names]
        if unknown:
            raise GateViolation(f"the input has columns a FlowRecord does not: {', '.join(unknown)}", field=unknown[0])
        missing = [name for name in REQUIRED_FIELDS if name not in table.column_names]
        if missing:
            raise GateViolation(f"the input lacks {', '.join(missing)}", field=missing[0])
        target = pa.schema([FLOW_SCHEMA.field(name) for name in table.column_names])
        if table.schema.equals(target):
            return table
        try:
            return table.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise GateViolation(f"the input's columns do not have FlowRecord types: {exc}") from exc

    def _regate(self, table: pa.Table) -> pa.Table:
        """Records gated before: they pass unchanged only if gated under this very policy."""
        if set(table.column_names) != set(self.schema.names):
            raise GateViolation("the input mixes FlowRecord and GatedRecord columns, or another profile's fields")
        policies = set(table["policy"].unique().to_pylist())
        if policies - {self.policy.name}:
            raise GateViolation(
                f"records gated under {sorted(policies)} cannot be re-gated under {self.policy.name}", field="policy"
            )
        self.counts["scope"]["already gated under this policy"] += table.num_rows
        self.records_in += table.num_rows
        self.records_out += table.num_rows
        return table.select(self.schema.names).cast(self.schema)


class _HashSink:
    """A write-only file that hashes what is written to it: the IPC stream is never assembled."""

    closed = False

    def __init__(self, digest: Any) -> None:
        self.digest = digest

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return len(memoryview(data))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True


def _hash_ipc(table: pa.Table, digest: Any) -> None:
    """Hash the records in Arrow's stream format (what the input hash is taken over), buffer by buffer."""
    with pa.PythonFile(_HashSink(digest), mode="w") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
