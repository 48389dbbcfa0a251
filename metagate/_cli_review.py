"""``metagate review list | show | approve | reject | revoke``: the analyst's side of the outbound queue.

``show`` prints, on stdout and nothing else, exactly the JSON the partner receives of an
item: its objects, byte for byte as they are stored and sent, in a TAXII envelope; what it
is, who approved it and where it stands go to stderr. The person acting is ``$METAGATE_ACTOR``,
else the login name; approvals by two different people are two different names.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace, actor
from metagate._cli_exchange_setup import QueueOption, exchange_errors, open_queue, queue_path

review_app = typer.Typer(no_args_is_help=True, help="Review what would be shared: approve, reject, revoke.")
ItemArg = Annotated[int, typer.Argument(help="the item's number (metagate review list)")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="why (kept in the ledger)")]


@review_app.command("list")
def list_items(
    queue: QueueOption = None,
    state: Annotated[str | None, typer.Option(help="only items in this state (pending, approved, ...)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """The items of the queue, oldest first: number, state, approvals, TLP, what it is."""
    with exchange_errors(), open_queue(queue_path(queue), None) as opened:
        items = opened.items(state)
        for item in items:
            if as_json:
                typer.echo(json.dumps(item.as_dict(), sort_keys=True))
                continue
            auto = any(a.actor == "auto-approve" for a in item.approvals)
            given = "auto" if auto else f"{len(item.approvals)}/{item.approvals_required}"
            typer.echo(
                f"{item.id:>5}  {item.state:<9}  {given:<4}  "
                f"TLP:{(item.tlp or '-').upper():<12}  {item.partner}  {item.summary}"
            )
        if not as_json:
            typer.echo(f"{len(items)} item(s)", err=True)


@review_app.command()
def show(item: ItemArg, queue: QueueOption = None) -> None:
    """Print exactly the JSON the partner will receive (stdout); what it is and its history on stderr."""
    with exchange_errors(), open_queue(queue_path(queue), None) as opened:
        found = opened.item(item)
        history = opened.conn.execute(
            "SELECT event, actor, at, reason FROM transitions WHERE item = ? ORDER BY rowid", (item,)
        ).fetchall()
    typer.echo(f"item {found.id}: {found.state}, partner {found.partner}, TLP:{(found.tlp or '-').upper()}", err=True)
    typer.echo(f"  {found.summary}", err=True)
    for event, who, at, reason in history:
        typer.echo(f"  {at} {event} by {who}" + (f": {reason}" if reason else ""), err=True)
    for obj in found.objects:
        typer.echo(
            f"  {obj.object_id} {obj.version} ({obj.role}) sha256 {obj.sha256}: {obj.delivery or 'not sent'}", err=True
        )
    sys.stdout.buffer.write(found.partner_json() + b"\n")
    sys.stdout.buffer.flush()


@review_app.command()
def approve(
    item: ItemArg,
    reason: ReasonOption = None,
    queue: QueueOption = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Approve an item; with the last approval the agreement requires, it goes to the outbox."""
    with exchange_errors(), open_queue(queue_path(queue), LedgerPlace.resolve(ledger, ledger_key)) as opened:
        done = opened.approve(item, actor(), reason)
    given = len(done.approvals)
    if done.state == "approved":
        typer.echo(f"item {item}: approved ({given}/{done.approvals_required}); `metagate share` sends it")
    else:
        typer.echo(
            f"item {item}: approval {given}/{done.approvals_required} recorded; another person must approve it too"
        )


@review_app.command()
def reject(
    item: ItemArg,
    reason: Annotated[str, typer.Option("--reason", help="why it must not be shared (required)")],
    queue: QueueOption = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Reject a pending item: it is never sent."""
    with exchange_errors(), open_queue(queue_path(queue), LedgerPlace.resolve(ledger, ledger_key)) as opened:
        opened.reject(item, actor(), reason)
    typer.echo(f"item {item}: rejected")


@review_app.command()
def revoke(
    item: ItemArg,
    reason: Annotated[str, typer.Option("--reason", help="why it is withdrawn (required)")],
    queue: QueueOption = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Withdraw a published item: a new version of each object with revoked true goes to the outbox."""
    from exchange import StixValidator

    with exchange_errors(), open_queue(queue_path(queue), LedgerPlace.resolve(ledger, ledger_key)) as opened:
        done = opened.revoke(item, actor(), reason, StixValidator())
    count = len([o for o in done.objects if o.role == "revocation"])
    typer.echo(f"item {item}: revoked; {count} revocation(s) queued, `metagate share` sends them")
