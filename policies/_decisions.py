"""The decision engine: for every flow, allow or drop, and the clause that decided.

A flow's traffic class comes from its two endpoints and the domestic address space
(special-purpose space counts as the profile says). The class's handling in the profile
decides: ``never`` drops, ``always`` passes, ``approval`` passes only when a recorded
approval covers the class, one of the flow's addresses and the flow's whole time span.
Whatever cannot be classified (an address that does not parse, two IP versions in one
flow) is dropped: the engine fails closed.

Decisions are made over whole columns with numpy; a reason is a small integer indexing
:attr:`Decisions.reasons`, so counting by reason is a ``bincount``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from policies._addresses import ParsedAddresses, in_prefixes, parse_addresses
from policies._loader import Policy
from policies._models import Approval, Handling, Network, SpecialPurpose, TrafficClass

CLASSES: tuple[TrafficClass, ...] = (
    TrafficClass.FOREIGN_TO_FOREIGN,
    TrafficClass.FOREIGN_TO_DOMESTIC,
    TrafficClass.DOMESTIC_TO_FOREIGN,
    TrafficClass.DOMESTIC_TO_DOMESTIC,
)
"""Class code = 2 * (originator domestic) + (responder domestic)."""

UNCLASSIFIED = 255

SPECIAL_PURPOSE: tuple[Network, ...] = tuple(
    ipaddress.ip_network(p)
    for p in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
"""Private, shared (CGNAT), loopback, link-local, multicast and unspecified space."""

_Bool = npt.NDArray[np.bool_]
_I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Decisions:
    """One decision per flow, column-wise."""

    traffic_class: npt.NDArray[np.uint8]
    allow: _Bool
    reason: npt.NDArray[np.int16]
    approval: npt.NDArray[np.int16]
    reasons: tuple[str, ...]
    approvals: tuple[Approval, ...]
    orig_domestic: _Bool
    resp_domestic: _Bool

    def counts(self) -> dict[str, int]:
        """Flows by reason, for the counters and the ledger."""
        tally = np.bincount(self.reason, minlength=len(self.reasons))
        return {self.reasons[i]: int(n) for i, n in enumerate(tally) if n}

    def class_names(self) -> pa.Array:
        names = pa.array([c.value for c in CLASSES] + [None], pa.string())
        codes = np.where(self.traffic_class == UNCLASSIFIED, len(CLASSES), self.traffic_class)
        return names.take(pa.array(codes.astype(np.int32)))

    def approval_ids(self) -> pa.Array:
        ids = pa.array([a.id for a in self.approvals] + [None], pa.string())
        codes = np.where(self.approval < 0, len(self.approvals), self.approval)
        return ids.take(pa.array(codes.astype(np.int32)))


class DecisionEngine:
    """Decides flows under one policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        profile = policy.profile
        self.domestic: tuple[Network, ...] = policy.domestic
        if profile.special_purpose is SpecialPurpose.DOMESTIC:
            self.domestic = (*policy.domestic, *SPECIAL_PURPOSE)
        self.subscriber = policy.subscriber
        name = policy.base_profile or profile.name  # the clause is the profile's: a site cannot change classes
        reasons = ["unclassified: an address does not parse or the versions differ"]
        self._class_reason: list[int] = []
        for cls in CLASSES:
            handling = profile.classes[cls]
            self._class_reason.append(len(reasons))
            if handling is Handling.NEVER:
                reasons.append(f"{name}:classes.{cls.value}=never")
            elif handling is Handling.ALWAYS:
                reasons.append(f"{name}:classes.{cls.value}=always")
            else:
                reasons.append(f"{name}:classes.{cls.value}=approval, none covers the flow")
        self._approval_reason = len(reasons)
        reasons.extend(f"approval {a.id} ({a.issued_by})" for a in policy.approvals)
        self.reasons = tuple(reasons)
        self._handling = [profile.classes[c] for c in CLASSES]
        self._scopes = [tuple(ipaddress.ip_network(p) for p in a.scope) for a in policy.approvals]

    def is_domestic(self, parsed: ParsedAddresses) -> _Bool:
        return in_prefixes(parsed, self.domestic)

    def decide(
        self, orig: pa.Array | pa.ChunkedArray, resp: pa.Array | pa.ChunkedArray, start_us: _I64, end_us: _I64
    ) -> Decisions:
        return self.decide_parsed(parse_addresses(orig), parse_addresses(resp), start_us, end_us)

    def decide_parsed(self, po: ParsedAddresses, pr: ParsedAddresses, start_us: _I64, end_us: _I64) -> Decisions:
        """As :meth:`decide`, for address columns already parsed."""
        valid = (po.version != 0) & (po.version == pr.version)
        od, rd = self.is_domestic(po) & valid, self.is_domestic(pr) & valid
        cls = np.where(valid, 2 * od.astype(np.uint8) + rd.astype(np.uint8), UNCLASSIFIED).astype(np.uint8)
        n = len(cls)
        reason = np.zeros(n, np.int16)  # unclassified unless a class says otherwise
        allow = np.zeros(n, np.bool_)
        approval = np.full(n, -1, np.int16)
        for code, handling in enumerate(self._handling):
            rows = cls == code
            reason[rows] = self._class_reason[code]
            if handling is Handling.ALWAYS:
                allow[rows] = True
            elif handling is Handling.APPROVAL and rows.any():
                self._approve(rows, CLASSES[code], po, pr, start_us, end_us, allow, reason, approval)
        return Decisions(cls, allow, reason, approval, self.reasons, self.policy.approvals, od, rd)

    def _approve(
        self,
        rows: _Bool,
        cls: TrafficClass,
        po: ParsedAddresses,
        pr: ParsedAddresses,
        start_us: _I64,
        end_us: _I64,
        allow: _Bool,
        reason: npt.NDArray[np.int16],
        approval: npt.NDArray[np.int16],
    ) -> None:
        """The first approval (in policy order) that covers a flow decides it."""
        open_rows = rows.copy()
        for index, item in enumerate(self.policy.approvals):
            if cls not in item.classes or not open_rows.any():
                continue
            scope = self._scopes[index]
            begins, ends = _us(item.valid_from.timestamp()), _us(item.valid_until.timestamp())
            covered = open_rows & (start_us >= begins) & (end_us < ends)
            if covered.any():
                covered &= in_prefixes(po, scope) | in_prefixes(pr, scope)
            allow[covered] = True
            reason[covered] = self._approval_reason + index
            approval[covered] = index
            open_rows &= ~covered


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)
