"""The queue pages: what is pending, each item with its evidence and exact JSON, and the review actions.

Every action is a POST (a GET on it is 405), passes the CSRF check of metagate.console._auth,
needs its permission, and then asks the queue, which alone decides: approving needs the
agreement's number of approvals by different people, rejecting only a pending item,
revoking only a published one. A refusal is 409 with the queue's reason on the item page.

Publishing is what an operator expects after the last approval: with ``share_on_approval``
(the default) the approved objects, already in the outbox, are pushed to the partner at once
by the share worker, and the item shows published when the partner holds them all. Share
now (approvers) pushes what the outbox holds again (after the partner was unreachable, say);
the outbox only ever holds approved objects and revocations, so it cannot publish anything else.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from metagate.console._auth import current_session, current_user, needs
from metagate.console._backend import Backend
from metagate.console._evidence import evidence_of, gate_runs_for
from metagate.console._roles import Permission
from policies import MetagateError

queue_pages = Blueprint("queue", __name__)
STATES = ("pending", "approved", "published", "rejected", "revoked")
_MAX_REASON = 1000


def _backend() -> Backend:
    found: Backend = current_app.extensions["metagate.backend"]
    return found


def _user_name() -> str:
    user = current_user()
    assert user is not None  # every view here is behind needs()
    return user.name


@queue_pages.route("/")
@needs(Permission.VIEW_QUEUE)
def index() -> BaseResponse:
    return redirect(url_for("queue.listing"))


@queue_pages.route("/queue")
@needs(Permission.VIEW_QUEUE)
def listing() -> str:
    state = request.args.get("state", "pending")
    if state not in (*STATES, "all"):
        abort(400, description=f"no state {state!r}")
    backend = _backend()
    with backend.reading() as queue:
        items = queue.items(None if state == "all" else state)
        counts = dict(queue.conn.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall())
        outbox = queue.conn.execute("SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')").fetchone()[0]
    return render_template(
        "queue.html",
        items=list(reversed(items)),
        state=state,
        states=STATES,
        counts=counts,
        outbox=outbox,
        sharing=backend.sharing,
        partner=backend.exchange_path or "default",
        messages=current_session().take_messages(),
    )


def _item_page(item_id: int, status: int = 200, error: str | None = None) -> tuple[str, int]:
    from exchange import ReviewError

    backend = _backend()
    with backend.reading() as queue:
        try:
            item = queue.item(item_id)
        except ReviewError:
            abort(404, description=f"no item {item_id} in the queue")
        history = queue.conn.execute(
            "SELECT event, actor, at, reason, from_state, to_state FROM transitions WHERE item = ? ORDER BY rowid",
            (item_id,),
        ).fetchall()
        if item.state in ("published", "revoked"):  # publish events name their items in the payload
            for event, who, at, payload in queue.conn.execute(
                "SELECT event, actor, at, payload FROM transitions WHERE event = 'publish' AND item IS NULL "
                "AND payload LIKE '%items_published%' ORDER BY rowid"
            ).fetchall():
                if item_id in json.loads(payload).get("items_published", []):
                    history.append((event, who, at, "the partner holds every object", "approved", "published"))
            history.sort(key=lambda h: h[2])
        decisions = queue.decisions(item.finding) if item.finding else []
        policy_sha256 = queue.conn.execute("SELECT policy_sha256 FROM items WHERE id = ?", (item_id,)).fetchone()[0]
        queued_seq = queue.conn.execute(
            "SELECT ledger_seq FROM transitions WHERE item = ? AND event = 'queue' ORDER BY rowid LIMIT 1", (item_id,)
        ).fetchone()
    gate_runs: list[dict[str, Any]] = []
    if policy_sha256:
        with backend.ledger() as ledger:
            gate_runs = gate_runs_for(ledger, policy_sha256, queued_seq[0] if queued_seq else None)
    me = _user_name()
    messages = current_session().take_messages()
    if error:
        messages.append(("error", error))
    page = render_template(
        "item.html",
        item=item,
        evidence=evidence_of(item),
        history=history,
        decisions=decisions,
        policy_sha256=policy_sha256,
        gate_runs=gate_runs,
        partner_json=item.partner_json().decode("utf-8"),
        readable=json.dumps(json.loads(item.partner_json()), indent=2, ensure_ascii=False),
        approved_by_me=any(a.actor == me for a in item.approvals),
        still_needed=max(0, item.approvals_required - len(item.approvals)),
        messages=messages,
    )
    return page, status


@queue_pages.route("/items/<int:item_id>")
@needs(Permission.VIEW_QUEUE)
def item(item_id: int) -> tuple[str, int]:
    return _item_page(item_id)


@queue_pages.route("/items/<int:item_id>/partner.json")
@needs(Permission.VIEW_QUEUE)
def partner_json(item_id: int) -> Response:
    """The bytes the partner receives of the item, exactly (a TAXII envelope of its objects)."""
    from exchange import ReviewError

    with _backend().reading() as queue:
        try:
            body = queue.item(item_id).partner_json()
        except ReviewError:
            abort(404, description=f"no item {item_id} in the queue")
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="item-{item_id}.json"'
    return response


def _reason(required: bool) -> str | None:
    reason = request.form.get("reason", "").strip()
    if len(reason) > _MAX_REASON:
        abort(400, description=f"a reason is at most {_MAX_REASON} characters")
    if required and not reason:
        abort(400, description="a reason is required")
    return reason or None


def _review(item_id: int, action: str, reason: str | None) -> BaseResponse | tuple[str, int]:
    from exchange import ReviewError, StixValidator

    backend = _backend()
    me = _user_name()
    try:
        with backend.writing() as queue:
            if action == "approve":
                done = queue.approve(item_id, me, reason)
            elif action == "reject":
                assert reason is not None
                done = queue.reject(item_id, me, reason)
            else:
                assert reason is not None
                done = queue.revoke(item_id, me, reason, StixValidator())
    except ReviewError as exc:
        if "no such item" in str(exc):
            abort(404, description=f"no item {item_id} in the queue")
        return _item_page(item_id, 409, f"Refused: {exc}")
    session = current_session()
    if action == "approve" and done.state == "pending":
        missing = done.approvals_required - len(done.approvals)
        session.say(
            "ok",
            f"Approval {len(done.approvals)}/{done.approvals_required} recorded. "
            f"A second approver is required: {missing} more approval(s) by a different person.",
        )
    elif action == "approve":
        session.say("ok", f"Approved ({len(done.approvals)}/{done.approvals_required}): the objects are in the outbox.")
        _after_outbox(backend, me)
    elif action == "revoke":
        session.say("ok", "Revoked: a revoked version of each object is in the outbox.")
        _after_outbox(backend, me)
    else:
        session.say("ok", "Rejected: it will never be sent.")
    return redirect(url_for("queue.item", item_id=item_id), code=303)


def _after_outbox(backend: Backend, me: str) -> None:
    if not backend.config.share_on_approval:
        current_session().say("ok", "An approver sends it with Share now.")
        return
    try:
        partner = backend.exchange()
    except MetagateError as exc:
        current_session().say("error", f"The objects wait in the outbox: the exchange configuration is wrong: {exc}")
        return
    if partner is None:
        current_session().say("error", "No partner is configured (exchange): the objects wait in the outbox.")
        return
    backend.sharing.request(me)
    current_session().say(
        "ok", f"Sending to {partner.partner} now; this page shows published once the partner holds it."
    )


@queue_pages.route("/items/<int:item_id>/approve", methods=["POST"])
@needs(Permission.APPROVE)
def approve(item_id: int) -> BaseResponse | tuple[str, int]:
    return _review(item_id, "approve", _reason(False))


@queue_pages.route("/items/<int:item_id>/reject", methods=["POST"])
@needs(Permission.REJECT)
def reject(item_id: int) -> BaseResponse | tuple[str, int]:
    return _review(item_id, "reject", _reason(True))


@queue_pages.route("/items/<int:item_id>/revoke", methods=["POST"])
@needs(Permission.REVOKE)
def revoke(item_id: int) -> BaseResponse | tuple[str, int]:
    return _review(item_id, "revoke", _reason(True))


@queue_pages.route("/share", methods=["POST"])
@needs(Permission.SHARE)
def share_now() -> BaseResponse:
    _backend().sharing.request(_user_name())
    current_session().say("ok", "Share run started: what the outbox holds (approved objects only) goes to the partner.")
    return redirect(url_for("queue.listing"), code=303)
