"""The legal gate: scope, allowlist, pseudonymization and retention over flow record batches.

Also the headers-only capture stripper and small-cell-suppressed aggregates.
"""

from filters._aggregate import Aggregate, aggregate
from filters._gate import Gate, GateReport, make_pseudonymizer, policy_keys
from filters._retention import RetentionResult, apply_retention
from filters._rewrite import address_rewriter
from filters._schema import GATE_FIELD_NAMES, GATE_FIELDS, REQUIRED_FIELDS, gated_schema
from filters._seal import StateSeal
from filters._steps import AllowlistStep, GateBatch, PseudonymizeStep, RetentionStep, ScopeStep, Step
from filters._strip import StripSummary, strip_capture
from filters._strip_packet import PacketStripper, StrippedPacket

__all__ = [
    "Aggregate",
    "AllowlistStep",
    "GATE_FIELDS",
    "GATE_FIELD_NAMES",
    "Gate",
    "GateBatch",
    "GateReport",
    "PacketStripper",
    "PseudonymizeStep",
    "REQUIRED_FIELDS",
    "RetentionResult",
    "RetentionStep",
    "ScopeStep",
    "StateSeal",
    "Step",
    "StripSummary",
    "StrippedPacket",
    "address_rewriter",
    "aggregate",
    "apply_retention",
    "gated_schema",
    "make_pseudonymizer",
    "policy_keys",
    "strip_capture",
]
