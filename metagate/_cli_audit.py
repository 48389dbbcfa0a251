"""``metagate audit init | verify | show`` and ``metagate retention apply``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace, record
from metagate._cli_policy import load_checked
from metagate._exits import command_errors
from policies import ConfigError

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit ledger.")
retention_app = typer.Typer(no_args_is_help=True, help="Delete gated data past its retention.")


@audit_app.command()
def init(ledger: LedgerOption = None, ledger_key: LedgerKeyOption = None) -> None:
    """Create the ledger's signing key (never replaces one) and its first entry."""
    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        key_id = place.init()
    typer.echo(f"ledger {place.ledger}: signing key {place.key} (id {key_id}), public key {place.public_key}")


@audit_app.command("verify")
def verify_command(
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="trusted public key file(s) (default: LEDGER_KEY.pub)"),
    ] = None,
    head: Annotated[str | None, typer.Option(help="a head noted earlier, SEQ:HASH, to catch a cut-off tail")] = None,
) -> None:
    """Check every entry's hash, chain and signature; name each edited, deleted, inserted or moved entry."""
    from policies import load_public_key, public_key_id, verify_ledger

    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        keys = {}
        for path in public_key or [place.public_key]:
            key = load_public_key(path)
            keys[public_key_id(key)] = key
        expected = None
        if head is not None:
            seq, _, digest = head.partition(":")
            if not seq.isdigit():
                raise ConfigError(f"not SEQ:HASH: {head!r}", field="head")
            expected = (int(seq), digest)
        result = verify_ledger(place.ledger, keys, expected_head=expected)
    for problem in result.problems:
        typer.echo(str(problem))
    head_text = f"{result.head[0]}:{result.head[1]}" if result.head else "none"
    verdict = "ok" if result.ok else f"FAILED, {len(result.problems)} problem(s)"
    typer.echo(f"ledger {place.ledger}: {result.entries} entries, head {head_text}: {verdict}")
    raise typer.Exit(0 if result.ok else 1)


@audit_app.command()
def show(
    ledger: LedgerOption = None,
    kind: Annotated[str | None, typer.Option(help="only entries of this kind, e.g. gate.run")] = None,
    actor: Annotated[str | None, typer.Option(help="only entries by this person")] = None,
    contains: Annotated[str | None, typer.Option(help="only entries whose payload mentions this text")] = None,
) -> None:
    """The ledger's entries as JSON lines."""
    from policies import Ledger

    place = LedgerPlace.resolve(ledger, None)
    with command_errors(), Ledger(place.ledger, None) as opened:
        for entry in opened.entries(kind=kind, actor=actor, contains=contains):
            line = {"seq": entry.seq, "at": entry.at, "kind": entry.kind, "actor": entry.actor,
                    "payload": entry.payload, "hash": entry.hash}  # fmt: skip
            typer.echo(json.dumps(line, sort_keys=True))


@retention_app.command()
def apply(
    store: Annotated[Path, typer.Argument(help="directory (or file) of gated Parquet records")],
    policy: Annotated[Path, typer.Option("--policy", help="the policy the records were gated under")],
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Delete gated records whose retention has ended, and record the deletion in the ledger."""
    from filters import apply_retention

    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        resolved = load_checked(policy)
        place.open().close()  # fail early when the ledger cannot be written
        now = datetime.now(UTC)
        result = apply_retention(store, now)
        payload = {"store": str(store), "policy": resolved.name, "policy_sha256": resolved.digest,
                   "at": now.isoformat(), **result.payload()}  # fmt: skip
        seq = record(place, "retention.apply", payload)
    typer.echo(
        f"retention: {result.records_deleted:,} records deleted ({len(result.files_deleted)} files removed, "
        f"{len(result.files_rewritten)} rewritten), {result.records_kept:,} kept; ledger entry {seq}"
    )
