"""The GatedRecord: the allowlisted FlowRecord fields plus what the gate decided.

A GatedRecord is built, never trimmed: its columns are the profile's allowed fields (in
FlowRecord order) followed by the gate's own columns below. It is the only flow data
metagate writes to disk when a policy is given.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from collectors import FLOW_SCHEMA
from policies import GateViolation

GATE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("traffic_class", pa.string(), nullable=False),
    pa.field("approval_id", pa.string()),
    pa.field("pseudonym_method", pa.string()),
    pa.field("pseudonym_key", pa.string()),
    pa.field("retain_until", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("policy", pa.string(), nullable=False),
)
GATE_FIELD_NAMES: frozenset[str] = frozenset(f.name for f in GATE_FIELDS)

# Without these the gate cannot decide a flow at all: a profile must allow them.
REQUIRED_FIELDS: tuple[str, ...] = ("start", "end", "orig_addr", "resp_addr")


def gated_schema(fields: Iterable[str]) -> pa.Schema:
    """The schema of records gated under a profile that allows ``fields``."""
    allowed = set(fields)
    unknown = sorted(allowed - set(FLOW_SCHEMA.names))
    if unknown:
        raise GateViolation(
            f"the profile allows fields a FlowRecord does not have: {', '.join(unknown)}", field="fields"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in allowed]
    if missing:
        raise GateViolation(f"the profile must allow {', '.join(missing)}: the gate decides by them", field="fields")
    kept = [f for f in FLOW_SCHEMA if f.name in allowed]
    return pa.schema([*kept, *GATE_FIELDS])
