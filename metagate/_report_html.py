"""The transparency report as one self-contained, printable HTML page.

Built from the report document (metagate._report_doc) and nothing else, so the page and
its JSON twin cannot disagree. Inline CSS and SVG only: nothing is fetched, the file reads
the same offline and years later, and prints on A4 with each table kept whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any

from metagate._charts import bar_chart, line_chart
from metagate._report_doc import figure_text

_CSS = """
body{font-family:sans-serif;font-size:14px;color:#111;max-width:960px;margin:24px auto;padding:0 16px;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}
h2{font-size:17px;border-bottom:2px solid #0072B2;padding-bottom:2px;margin-top:28px}
h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;margin:6px 0 10px;break-inside:avoid}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#eef3f8}
.meta{color:#444}.note{color:#444;font-size:12px}
.verdict{padding:10px 14px;border-radius:4px;margin:12px 0;font-weight:bold}
.ok{background:#e3f4ea;border:2px solid #009E73}.failed{background:#fbe9e2;border:2px solid #D55E00}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}
.card{border:1px solid #bbb;border-radius:4px;padding:6px 10px;min-width:120px}
.card b{display:block;font-size:18px}
code{font-size:12px;word-break:break-all}
svg{display:block;margin:6px 0;max-width:100%;height:auto}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}.verdict,.card{break-inside:avoid}}
"""


def render_html(doc: dict[str, Any]) -> str:
    period = doc["period"]
    title = f"Transparency report {period['from']} to {period['to']}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">metagate, period {period["from"]} 00:00 to {period["to"]} 24:00 UTC, both days included; '
        f"generated {escape(doc['generated_at'])}. Small counts are suppressed below k = {doc['k']}.</p>",
        _verification(doc),
        _summary(doc),
        _collection(doc),
        _gate(doc),
        _exchange(doc),
        _retention(doc),
        _strip(doc),
        _method(doc),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>" + "".join(body) + "</body></html>\n"
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    right = set(numeric)

    def cell(tag: str, i: int, value: Any) -> str:
        text = figure_text(value) if value is None or isinstance(value, int) else str(value)
        return f"<{tag}{' class=n' if i in right else ''}>{escape(text)}</{tag}>"

    out = ["<table><tr>", *(cell("th", i, h) for i, h in enumerate(head)), "</tr>"]
    count = 0
    for row in rows:
        count += 1
        out.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    if not count:
        out.append(f'<tr><td colspan="{len(head)}" class="note">none in the period</td></tr>')
    out.append("</table>")
    return "".join(out)


def _verification(doc: dict[str, Any]) -> str:
    v, ledger = doc["verification"], doc["ledger"]
    keys = ", ".join(v["public_key_ids"]) or "none"
    if v["ok"]:
        verdict = (
            f'<div class="verdict ok">Ledger verified: all {v["entries"]:,} entries intact, chained and signed '
            f"by the trusted key(s) {escape(keys)}.</div>"
        )
    else:
        verdict = (
            f'<div class="verdict failed">Ledger verification FAILED: {len(v["problems"])} problem(s). '
            "The figures below come from a ledger that has been altered; the entries named are in doubt.</div>"
        )
    parts = [f"<h2>Audit ledger and its verification</h2>{verdict}"]
    if v["problems"]:
        parts.append(
            _table(
                ("entry", "problem", "what was found"),
                ((p["seq"], p["kind"], p["message"]) for p in v["problems"]),
                (0,),
            )
        )
    if ledger["unread"]:
        parts.append(f"<p><b>Reading stopped early:</b> {escape(ledger['unread'])}</p>")
    rows = [
        ("ledger file", ledger["file"]),
        ("entries in the ledger", f"{v['entries']:,}"),
        ("head (seq:hash)", v["head"] or "none"),
        ("head noted earlier, checked", v["expected_head"] or "none given"),
        ("trusted public key id(s)", keys),
        ("signing key id(s) of the period's entries", ", ".join(ledger["signing_key_ids"]) or "none"),
        ("entries in the period", f"{ledger['entries_in_period']:,}"),
        ("first and last entry of the period", _span(ledger["first_seq"], ledger["last_seq"])),
        ("hash of the period's last entry", ledger["last_hash"] or "none"),
    ]
    parts.append(
        "<table>"
        + "".join(f"<tr><th>{escape(a)}</th><td><code>{escape(str(b))}</code></td></tr>" for a, b in rows)
        + "</table>"
    )
    parts.append(
        '<p class="note">To check this report: <code>metagate audit verify --public-key KEY.pub --head '
        f"{escape(v['head'] or 'SEQ:HASH')}</code> on the ledger, then <code>metagate report --from "
        f"{doc['period']['from']} --to {doc['period']['to']} -o report.json</code> gives these figures again. "
        "Note the head: a ledger later cut back to fewer entries is caught only against a head noted before.</p>"
    )
    kinds = doc["ledger"]["kinds"]
    parts.append("<h3>Entries of the period by kind</h3>" + _table(("kind", "entries"), kinds.items(), (1,)))
    return "".join(parts)


def _span(first: int | None, last: int | None) -> str:
    return "none" if first is None else f"{first} to {last}"


def _summary(doc: dict[str, Any]) -> str:
    c, x = doc["collection"], doc["exchange"]
    cards = [
        ("gate runs", c["gate_runs"]),
        ("packets", c["packets"]),
        ("flows collected", c["flows_collected"]),
        ("flows kept", c["flows_kept"]),
        ("flows dropped", c["flows_dropped"]),
        ("objects shared", x["objects_shared"]),
        ("objects received", x["objects_received_new"]),
        ("records deleted", doc["retention"]["records_deleted"]),
    ]
    inner = "".join(f'<div class="card"><b>{escape(figure_text(v))}</b>{escape(n)}</div>' for n, v in cards)
    return f'<h2>The period at a glance</h2><div class="cards">{inner}</div>'


def _collection(doc: dict[str, Any]) -> str:
    c = doc["collection"]
    runs = ((r["seq"], r["at"], r["mode"], r["policy"], r["packets"], r["flows_collected"]) for r in c["runs"])
    parts = [
        "<h2>What was collected</h2>",
        "<p>Every gate run of the period (gate: flow files; collect, run: captures gated as they were read).</p>",
        _table(("entry", "recorded (UTC)", "mode", "policy", "packets", "flows collected"), runs, (0, 4, 5)),
        f"<p>Total: {escape(figure_text(c['packets']))} packets, {escape(figure_text(c['flows_collected']))} flows "
        f"collected, {escape(figure_text(c['flows_kept']))} kept after the gate, "
        f"{escape(figure_text(c['flows_dropped']))} dropped.</p>",
        "<h3>Policies in force</h3>",
        _table(
            ("policy", "SHA-256 of the policy", "runs"),
            ((p["policy"], p["sha256"], p["runs"]) for p in c["policies"]),
            (2,),
        ),
    ]
    days = doc["runs_by_day"]
    if days:
        per_day = {d["day"]: d["runs"] for d in days}
        points = [(day, per_day.get(day, 0)) for day in _days(doc, per_day)]
        parts.append(line_chart({"gate runs": points}, title="Gate runs by day"))
    return "".join(parts)


def _short(clause: str) -> str:
    """A clause short enough for a chart label; the table beside it gives it in full."""
    found = re.search(r"classes\.([a-z-]+)=(never|approval|always)", clause)
    if found:
        return f"{found.group(1)}: {'no approval' if found.group(2) == 'approval' else found.group(2)}"
    if clause.startswith("unclassified"):
        return "unclassified"
    if clause.startswith("dropped: no key"):
        return "no key in force"
    return clause[:28]


def _gate(doc: dict[str, Any]) -> str:
    g = doc["gate"]
    dropped = g["dropped"]
    values = {_short(r["clause"]): r["flows"] if isinstance(r["flows"], int) else 0 for r in dropped}
    texts = {_short(r["clause"]): r["flows"] for r in dropped if not isinstance(r["flows"], int)}
    parts = [
        "<h2>What the gate dropped, and why</h2>",
        "<p>Each dropped flow under the profile clause that dropped it. Nothing of a dropped flow is kept.</p>",
        _table(
            ("profile clause", "meaning", "flows"), ((r["clause"], r["meaning"], r["flows"]) for r in dropped), (2,)
        ),
        bar_chart(values, title="Flows dropped by reason", texts=texts) if dropped else "",
        '<p class="note">A count under k or withheld is written, not drawn.</p>' if texts else "",
        "<h3>What passed, under which approval or clause</h3>",
        _table(
            ("approval or clause", "meaning", "flows"),
            ((r["clause"], r["meaning"], r["flows"]) for r in g["allowed"]),
            (2,),
        ),
        "<h3>Fields removed from kept flows (default deny)</h3>",
        _table(("field", "values removed"), ((f["field"], f["values"]) for f in g["fields_removed"]), (1,)),
        "<h2>What was pseudonymized, under which key</h2>",
        "<p>Kept flows, by the method and key id in force at each flow's start (the key itself is never "
        "recorded). The addresses the profile names were replaced.</p>",
        _table(
            ("method", "key id", "flows"),
            [
                *((p["method"], p["key_id"] or "–", p["flows"]) for p in g["pseudonymized"]),
                *(
                    [("none (the profile pseudonymizes nothing here)", "–", g["kept_without_pseudonym"])]
                    if g["kept_without_pseudonym"] not in (0, None)
                    else []
                ),
            ],
            (2,),
        ),
    ]
    if g["retention_days"]:
        kept = ", ".join(f"{name}: {days} days" for name, days in g["retention_days"].items())
        parts.append(f"<p>Retention stamped on kept flows: {escape(kept)}.</p>")
    return "".join(parts)


_PARTNER_ROWS = (
    ("items queued for review", "items_queued"),
    ("approvals given (people are counted, not named)", "approvals"),
    ("items approved by people", "items_approved"),
    ("items approved WITHOUT review (--auto-approve)", "items_auto_approved"),
    ("rejections", "rejections"),
    ("revocations", "revocations"),
    ("items published", "items_published"),
    ("object versions delivered", "objects_delivered"),
    ("object versions the partner refused", "objects_refused_by_partner"),
    ("share runs (of them cut short)", "share_runs"),
    ("pull runs", "pull_runs"),
    ("objects received", "objects_received"),
    ("of them new", "objects_received_new"),
    ("refused as invalid STIX", "objects_received_invalid"),
    ("findings packaged", "findings_packaged"),
)


def _exchange(doc: dict[str, Any]) -> str:
    x = doc["exchange"]
    parts = ["<h2>What was shared with whom, and what was received</h2>"]
    if not x["partners"]:
        parts.append("<p>Nothing was shared or received in the period.</p>")
    for p in x["partners"]:
        required = ", ".join(f"{items} item(s) needing {n}" for n, items in p["approvals_required"].items())
        parts.append(f"<h3>Partner {escape(p['partner'])}</h3>")
        if required:
            parts.append(f"<p>Approvals the agreement required: {escape(required)}, each by different people.</p>")
        rows = []
        for label, key in _PARTNER_ROWS:
            value = p[key]
            if key == "share_runs":
                value = f"{value} ({p['share_runs_incomplete']})"
            rows.append((label, value))
        parts.append(_table(("", "count"), rows, (1,)))
        clauses = {**p["package_outcomes"], **{f"clause {c}": n for c, n in p["package_clauses"].items()}}
        if clauses:
            parts.append(_table(("packaging outcome or agreement clause", "findings"), clauses.items(), (1,)))
    days = x["by_day"]
    if days:
        by_day = {d["day"]: d for d in days}
        series: dict[str, list[tuple[str, int]]] = {"shared": [], "received": []}
        texts: dict[tuple[str, str], str] = {}
        for day in _days(doc, by_day):
            for name, points in series.items():
                value = by_day[day][name] if day in by_day else 0  # a day without entries: nothing, exactly
                points.append((day, value if isinstance(value, int) else 0))
                if not isinstance(value, int):
                    texts[(name, day)] = value
        parts.append(line_chart(series, title="Object versions shared and received by day", texts=texts))
        parts.append('<p class="note">Open circles: a count under k or withheld, drawn at 0.</p>')
    return "".join(parts)


def _days(doc: dict[str, Any], seen: Iterable[str]) -> list[str]:
    """Every day of the period for a chart's axis (days without entries count 0), or the days seen
    when the period is longer than a quarter."""
    first, last = (date.fromisoformat(doc["period"][end]) for end in ("from", "to"))
    if (last - first).days > 92:
        return sorted(seen)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _retention(doc: dict[str, Any]) -> str:
    r = doc["retention"]
    rows = (
        (
            x["seq"],
            x["at"],
            x["policy"],
            x["records_deleted"],
            x["records_kept"],
            x["files_deleted"],
            x["files_rewritten"],
        )
        for x in r["runs"]
    )
    return (
        "<h2>What retention deleted</h2>"
        + _table(
            (
                "entry",
                "recorded (UTC)",
                "policy",
                "records deleted",
                "records kept",
                "files removed",
                "files rewritten",
            ),
            rows,
            (0, 3, 4, 5, 6),
        )
        + f"<p>{r['passes']} retention pass(es), {escape(figure_text(r['records_deleted']))} records deleted.</p>"
    )


def _strip(doc: dict[str, Any]) -> str:
    s = doc["strip"]
    if not s["runs"]:
        return ""
    rows = (
        (x["seq"], x["at"], x["key_id"] or "–", x["packets_read"], x["packets_written"], x["payload_bytes_removed"])
        for x in s["runs"]
    )
    return "<h2>Headers-only evidence copies</h2>" + _table(
        ("entry", "recorded (UTC)", "key id", "packets read", "packets written", "payload bytes removed"),
        rows,
        (0, 3, 4, 5),
    )


def _method(doc: dict[str, Any]) -> str:
    return (
        "<h2>How this report is made</h2>"
        f"<p>Every figure is counted from the signed audit ledger's entries recorded in the period, nothing else. "
        f"{escape(doc['suppression'])}</p>"
        "<p>Not in this report, by design: addresses, ports, flow contents, STIX patterns and object ids, "
        "file paths, free-text reasons, and the names of the people who ran commands or approved.</p>"
    )
