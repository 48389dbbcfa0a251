"""The audit view: the ledger's entries, newest first, with the verdict of verify_ledger.

Filters: ``object`` (an object id, an item number or any text a payload holds), ``person``
(the actor), ``partner`` (the payload's partner) and ``kind``. The verdict covers the whole
file, checked against the public half of the ledger's key, and names each problem; it is
recomputed when the ledger file changes.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from metagate.console._auth import needs
from metagate.console._backend import Backend
from metagate.console._roles import Permission
from policies import MetagateError

audit_pages = Blueprint("audit", __name__)
_SHOWN = 200
_MAX_FILTER = 200


def _filters() -> dict[str, str]:
    found = {}
    for name in ("object", "person", "partner", "kind"):
        value = request.args.get(name, "").strip()
        if len(value) > _MAX_FILTER:
            abort(400, description=f"the {name} filter is at most {_MAX_FILTER} characters")
        if value:
            found[name] = value
    return found


@audit_pages.route("/audit")
@needs(Permission.VIEW_AUDIT)
def ledger_view() -> str:
    backend: Backend = current_app.extensions["metagate.backend"]
    filters = _filters()
    problem: str | None = None
    try:
        verdict = backend.verification()
    except MetagateError as exc:
        verdict, problem = None, str(exc)
    shown: deque[dict[str, Any]] = deque(maxlen=_SHOWN)
    matched = 0
    contains = filters.get("object") or filters.get("partner")
    with backend.ledger() as ledger:
        for entry in ledger.entries(kind=filters.get("kind"), actor=filters.get("person"), contains=contains):
            payload = entry.payload
            if "partner" in filters and payload.get("partner") != filters["partner"]:
                continue
            if "object" in filters and filters["object"] not in json.dumps(payload, ensure_ascii=False):
                continue
            matched += 1
            shown.append(
                {
                    "seq": entry.seq,
                    "at": entry.at,
                    "kind": entry.kind,
                    "actor": entry.actor,
                    "item": payload.get("item"),
                    "partner": payload.get("partner"),
                    "reason": payload.get("reason"),
                    "summary": _summary(entry.kind, payload),
                    "payload": json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False),
                }
            )
    bad = {p.seq for p in verdict.problems} if verdict is not None else set()
    return render_template(
        "audit.html",
        entries=list(reversed(shown)),
        matched=matched,
        limit=_SHOWN,
        filters=filters,
        verdict=verdict,
        problem=problem,
        bad=bad,
    )


def _summary(kind: str, payload: dict[str, Any]) -> str:
    """One line of what the entry says, for the table."""
    if kind.startswith("review."):
        objects = payload.get("objects")
        count = len(objects) if isinstance(objects, list) else 0
        state = f"{payload.get('from') or 'new'} → {payload.get('to')}" if payload.get("to") else ""
        extra = ""
        if "approvals" in payload:
            extra = f", approval {payload.get('approvals')}/{payload.get('approvals_required')}"
        return f"item {payload.get('item')}: {state}{extra}, {count} object(s)"
    if kind == "gate.run":
        return f"{payload.get('policy')}: {payload.get('records_in')} in, {payload.get('records_out')} passed"
    if kind == "exchange.share":
        return f"{payload.get('delivered', 0)} delivered, items published {payload.get('items_published', [])}"
    if kind == "exchange.publish":
        items = payload.get("items_published")
        return f"item(s) {', '.join(str(i) for i in items)} published" if isinstance(items, list) else "published"
    keys = ", ".join(sorted(payload)[:6])
    return f"{keys}" if keys else ""
