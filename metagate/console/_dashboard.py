"""The dashboard: what was shared and received over time, findings by kind, what the gate dropped and why.

Sources, all local, read when the page is asked for:

- shared per day: object versions the partner took (the outbox's ``delivered_at``);
- received per day: the partner's objects we kept (``inbound.received_at``);
- findings by kind: every packaging decision, by the kind of its finding (queued items carry
  the kind; refused findings are counted under "refused");
- gate drops by reason: the ``gate.run`` entries of the ledger, each step's counts whose reason
  drops the flow (a class never collected, no approval covering it, no key in force,
  unparsable), summed over every run;
- refusals by clause: the clauses of the agreement that kept findings (or parts) back.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from flask import Blueprint, current_app, render_template

from metagate._charts import bar_chart, line_chart
from metagate.console._auth import needs
from metagate.console._backend import Backend
from metagate.console._roles import Permission

dashboard_pages = Blueprint("dashboard", __name__)


def is_drop(step: str, reason: str) -> bool:
    """Whether a gate count is of flows dropped (rather than let pass, stamped or stripped of a field)."""
    if reason.startswith("dropped"):
        return True
    if step != "scope":
        return False
    passes = reason.endswith("=always") or reason.startswith("approval ") or reason.startswith("already gated")
    return not passes


def short_reason(reason: str) -> str:
    """A drop reason short enough for a chart label; the full text is in the table under the chart."""
    clause = reason.split(":classes.", 1)[-1] if ":classes." in reason else reason
    if clause.endswith("=approval, none covers the flow"):
        return clause.removesuffix("=approval, none covers the flow") + ": no approval"
    if clause.endswith("=never"):
        return clause.removesuffix("=never") + ": never"
    if clause.startswith("unclassified"):
        return "unclassified address"
    if clause.startswith("dropped: no key"):
        return "no key in force"
    return clause if len(clause) <= 28 else clause[:27] + "…"


def gate_drops(entries: list[dict[str, Any]]) -> Counter[str]:
    drops: Counter[str] = Counter()
    for payload in entries:
        counts = payload.get("counts")
        if not isinstance(counts, dict):
            continue
        for step, reasons in counts.items():
            if not isinstance(reasons, dict):
                continue
            for reason, n in reasons.items():
                if isinstance(n, int) and is_drop(str(step), str(reason)):
                    drops[str(reason)] += n
    return drops


def figures(backend: Backend) -> dict[str, Any]:
    with backend.reading() as queue:
        conn = queue.conn
        shared = conn.execute(
            "SELECT substr(delivered_at, 1, 10), count(*) FROM outbox WHERE state = 'delivered' "
            "AND delivered_at IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
        received = conn.execute(
            "SELECT substr(received_at, 1, 10), count(*) FROM inbound GROUP BY 1 ORDER BY 1"
        ).fetchall()
        kinds = Counter(
            {str(k or "unknown"): n for k, n in conn.execute("SELECT kind, count(*) FROM items GROUP BY kind")}
        )
        refused = conn.execute("SELECT count(*) FROM decisions WHERE outcome = 'refused'").fetchone()[0]
        clauses: Counter[str] = Counter()
        for (notes,) in conn.execute("SELECT notes FROM decisions WHERE notes != '[]'"):
            for note in json.loads(notes):
                clauses[str(note.get("clause"))] += 1
        states = dict(conn.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall())
    if refused:
        kinds["refused (any kind)"] = refused
    with backend.ledger() as ledger:
        runs: list[dict[str, Any]] = [entry.payload for entry in ledger.entries(kind="gate.run")]
    drops = gate_drops(runs)
    return {
        "shared": [(str(d), int(n)) for d, n in shared],
        "received": [(str(d), int(n)) for d, n in received],
        "kinds": kinds,
        "drops": drops,
        "clauses": clauses,
        "states": states,
        "gate_runs": len(runs),
        "records_in": sum(_count(r.get("records_in")) for r in runs),
        "records_out": sum(_count(r.get("records_out")) for r in runs),
    }


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dashboard_pages.route("/dashboard")
@needs(Permission.VIEW_DASHBOARD)
def dashboard() -> str:
    backend: Backend = current_app.extensions["metagate.backend"]
    data = figures(backend)
    charts = {
        "exchange": line_chart(
            {"shared": data["shared"], "received": data["received"]},
            title="Objects shared and received, per day (UTC)",
            width=620,
        ),
        "kinds": bar_chart(dict(data["kinds"]), title="Findings packaged, by kind", width=620),
        "drops": bar_chart(
            {short_reason(r): n for r, n in data["drops"].items()}, title="Flows the gate dropped, by reason", width=620
        ),
        "clauses": bar_chart(dict(data["clauses"]), title="Held back by the agreement, by clause", width=620),
    }
    return render_template("dashboard.html", data=data, charts=charts)
