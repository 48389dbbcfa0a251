"""``metagate report``: the transparency report of a period, from the audit ledger alone.

The ledger is verified first (every hash, chain link and signature, against the trusted
public key); the report says the outcome, the head and the key id, so an auditor can check
it against the ledger. A ledger that fails verification still gets its report, saying so
and naming the entries in doubt, and the command exits 1. Exit 2: bad dates, options or a
ledger or key that cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace
from metagate._exits import command_errors
from policies import ConfigError, PolicyError

if TYPE_CHECKING:
    from metagate._transparency import Facts, Period
    from policies import LedgerEntry


def report(
    date_from: Annotated[str, typer.Option("--from", help="first day of the period, YYYY-MM-DD (UTC)")],
    date_to: Annotated[str, typer.Option("--to", help="last day of the period, YYYY-MM-DD (UTC), included")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="the report: HTML, or JSON if the name ends in .json")
    ] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="also the JSON twin, with the same figures")] = None,
    k: Annotated[int, typer.Option("--k", help="counts from 1 to k-1 are printed <k")] = 10,
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="trusted public key file(s) (default: LEDGER_KEY.pub)"),
    ] = None,
    head: Annotated[str | None, typer.Option(help="a head noted earlier, SEQ:HASH, to catch a cut-off tail")] = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Write the transparency report of a period: what was collected, dropped, pseudonymized, shared, deleted."""
    from metagate._report_doc import report_document
    from metagate._transparency import parse_period
    from policies import Ledger, load_public_key, public_key_id, verify_ledger

    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        period = parse_period(date_from, date_to)
        if output is None and json_file is None:
            raise ConfigError("say where to write the report: -o report.html and/or --json report.json")
        if k < 2:
            raise ConfigError(f"must be at least 2, got {k}", field="--k")
        expected = _head(head)
        keys = {}
        for path in public_key or [place.public_key]:
            key = load_public_key(path)
            keys[public_key_id(key)] = key
        verification = verify_ledger(place.ledger, keys, expected_head=expected)
        with Ledger(place.ledger, None) as opened:
            facts = _gather(opened.entries(), period)
        doc = report_document(
            facts, verification, k=k, ledger_name=place.ledger.name, public_key_ids=keys, expected_head=head
        )
        for path, text in _outputs(output, json_file, doc):
            try:
                path.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write {path} ({exc.strerror})", field="output") from exc
            typer.echo(f"report {period.first} to {period.last}: {path}", err=True)
    ok = doc["verification"]["ok"]
    if not ok:
        typer.echo(f"metagate: the ledger FAILED verification: {len(verification.problems)} problem(s)", err=True)
    raise typer.Exit(0 if ok else 1)


def _head(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit():
        raise ConfigError(f"not SEQ:HASH: {text!r}", field="head")
    return int(seq), digest


def _gather(entries: Iterator[LedgerEntry], period: Period) -> Facts:
    """The facts, reading on until an entry cannot be read at all (verification names it)."""
    from metagate._transparency import gather

    stopped: list[str] = []

    def readable() -> Iterator[LedgerEntry]:
        try:
            yield from entries
        except PolicyError as exc:
            stopped.append(str(exc))

    facts = gather(readable(), period)
    facts.unread = stopped[0] if stopped else None
    return facts


def _outputs(output: Path | None, json_file: Path | None, doc: dict[str, Any]) -> list[tuple[Path, str]]:
    from metagate._report_html import render_html

    text_json = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    out: list[tuple[Path, str]] = []
    if output is not None:
        out.append((output, text_json if output.suffix.lower() == ".json" else render_html(doc)))
    if json_file is not None:
        out.append((json_file, text_json))
    return out
