"""``metagate gate`` and ``metagate strip``: flow records and captures through the legal gate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace, record
from metagate._cli_policy import load_checked
from metagate._exits import command_errors
from policies import ConfigError

if TYPE_CHECKING:
    from filters import GateReport

GATE_FORMATS = ("parquet", "jsonl", "csv")
PolicyOption = Annotated[Path, typer.Option("--policy", help="site policy file (or a built-in profile name)")]


def gate(
    flows: Annotated[list[Path], typer.Argument(help="flow record files (Parquet or JSON lines)")],
    policy: PolicyOption,
    output: Annotated[str, typer.Option("-o", "--output", help="GatedRecords output; - for stdout")] = "-",
    fmt: Annotated[str, typer.Option("--format", help="parquet, jsonl or csv")] = "parquet",
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Gate flow records under a policy: only what it allows passes, pseudonymized as it says."""
    from filters import Gate
    from metagate._gating import gate_files, gate_payload

    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        if fmt not in GATE_FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(GATE_FORMATS)}", field="format")
        gate_run = Gate(load_checked(policy))
        place.open().close()  # fail early when the ledger cannot be written
        run = gate_files(flows, gate_run, output, fmt)
        seq = record(place, "gate.run", gate_payload(gate_run, run.inputs, output, "gate"))
    for problem in run.problems:
        typer.echo(f"not gated: {problem}", err=True)
    print_gate_summary(gate_run.report(), seq)
    raise typer.Exit(run.exit_status)


def strip(
    capture: Annotated[Path, typer.Argument(help="pcap or pcapng file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="headers-only capture to write")],
    policy: PolicyOption,
    keep_going: Annotated[
        bool, typer.Option(help="read past damage (a truncated last record, say) instead of stopping")
    ] = False,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Write a headers-only copy of a capture for evidence: no payload byte, addresses as the policy says."""
    from filters import address_rewriter, policy_keys, strip_capture
    from metagate._gating import file_sha256

    place = LedgerPlace.resolve(ledger, ledger_key)
    with command_errors():
        resolved = load_checked(policy)
        rewrite, key_id = address_rewriter(resolved, policy_keys(resolved))
        place.open().close()  # fail early when the ledger cannot be written
        summary = strip_capture(capture, output, rewrite_address=rewrite, strict=not keep_going)
        payload = {
            "input": str(capture),
            "input_sha256": file_sha256(capture),
            "output": str(output),
            "output_sha256": file_sha256(output),
            "policy": resolved.name,
            "policy_sha256": resolved.digest,
            "key_id": key_id,
            **summary.as_dict(),
        }
        seq = record(place, "strip.run", payload)
    for problem in summary.problems:
        typer.echo(f"partly read: {problem}", err=True)
    typer.echo(
        f"stripped {summary.packets_read:,} packets: {summary.packets_written:,} written, "
        f"{summary.payload_bytes_removed:,} payload bytes removed; ledger entry {seq}",
        err=True,
    )
    raise typer.Exit(3 if summary.problems else 0)


def print_gate_summary(report: GateReport, seq: int | None = None) -> None:
    """The gate's counts on stderr: in, out, and every reason with its count."""
    out = sys.stderr
    print(f"gate {report.policy}: {report.records_in:,} records in, {report.records_out:,} out", file=out)
    for step, reasons in report.counts.items():
        for reason, count in reasons.items():
            print(f"  {step}: {reason}: {count:,}", file=out)
    if seq is not None:
        print(f"ledger entry {seq}", file=out)
