"""The ``metagate`` command line.

Exit status: 0 all input read; 2 a usage or configuration error; 3 some input read only in
part (damaged capture); 4 some input was no capture at all (or missing).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from collectors import ENGINES, Collector, FlowConfig, make_engine, parse_idle_timeouts
from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace, record
from metagate._cli_accounts import hash_password
from metagate._cli_audit import audit_app, retention_app
from metagate._cli_console import console
from metagate._cli_detect import detect
from metagate._cli_exchange import package, pull, share
from metagate._cli_gate import gate, print_gate_summary, strip
from metagate._cli_policy import load_checked, policy_app
from metagate._cli_report import report
from metagate._cli_review import review_app
from metagate._cli_run import run
from metagate._cli_taxii_server import taxii_server
from metagate._exits import command_errors
from metagate._report import ProgressReporter, print_summary
from policies import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Lawful flow metadata from carrier network taps.")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.command()(gate)
app.command()(detect)
app.command()(strip)
app.add_typer(review_app, name="review")
app.command()(package)
app.command()(share)
app.command()(pull)
app.command()(run)
app.command(name="hash-password")(hash_password)
app.command()(report)
app.command(name="taxii-server")(taxii_server)
app.command()(console)

FORMATS = ("jsonl", "csv", "parquet", "zeek", "ipfix")


@app.command()
def collect(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="capture files (pcap, pcapng), ring directories, interfaces, or flow listeners "
            "netflow://HOST:PORT, ipfix://HOST:PORT (UDP), ipfix+tcp://HOST:PORT"
        ),
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="output file; - for stdout")] = "-",
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv, parquet, zeek (conn.log) or ipfix")] = "jsonl",
    engine: Annotated[str, typer.Option(help="fast (compiled), scapy (slow oracle), tshark (+ app names)")] = "fast",
    tap_id: Annotated[str, typer.Option(help="which tap saw the traffic")] = "tap0",
    idle_timeout: Annotated[
        str, typer.Option(help="seconds: one number, or per class like tcp=300,udp=60,icmp=60,other=60")
    ] = "tcp=300,udp=60,icmp=60,other=60",
    active_timeout: Annotated[float, typer.Option(help="seconds after which a long flow is reported")] = 1800.0,
    max_flows: Annotated[int, typer.Option(help="bound on live flows; beyond it the oldest are evicted")] = 500_000,
    bpf: Annotated[str | None, typer.Option(help="BPF filter for a live interface")] = None,
    follow: Annotated[bool, typer.Option(help="keep watching a ring directory for new files")] = False,
    state: Annotated[
        Path | None, typer.Option(help="checkpoint file for ring directories (default: OUTPUT.state)")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="gate in memory under this policy: only GatedRecords are written")
    ] = None,
    detect: Annotated[
        Path | None, typer.Option(help="with --policy: run the detectors on the gated records, findings to this file")
    ] = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
    export: Annotated[
        str | None, typer.Option(help="also send the (gated) records as IPFIX over UDP to ipfix://HOST:PORT")
    ] = None,
    stop_after_messages: Annotated[
        int | None, typer.Option(help="flow listeners: stop after this many NetFlow / IPFIX messages")
    ] = None,
    stop_when_idle: Annotated[
        float | None, typer.Option(help="flow listeners: stop once no message came for this many seconds")
    ] = None,
    template_timeout: Annotated[
        float, typer.Option(help="flow listeners over UDP: seconds a template lives unless refreshed")
    ] = 1800.0,
) -> None:
    """Decode packets (or receive routers' flow records) into bidirectional flow records (Zeek conn.log semantics)."""
    with command_errors():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}", field="engine")
        config = FlowConfig(
            idle_timeouts=parse_idle_timeouts(idle_timeout),
            active_timeout=active_timeout,
            max_flows=max_flows,
            tap_id=tap_id,
        )
        if state is None and output != "-" and any(Path(s).is_dir() for s in sources):
            state = Path(output + ".state")
        reporter = ProgressReporter(sources)
        if detect is not None and policy is None:
            raise ConfigError("the detectors read gated records only: give --policy", field="detect")
        gated = _gate_for(policy, LedgerPlace.resolve(ledger, ledger_key))
        chain = None
        if detect is not None:
            from detectors import DetectorChain

            chain = DetectorChain()
            gated["transform"] = _GateThenDetect(gated["transform"], chain)
        collector = Collector(
            make_engine(engine, config),
            output,
            fmt,
            follow=follow,
            bpf=bpf,
            state=state,
            progress=reporter.update,
            listen=_listen_options(stop_after_messages, stop_when_idle, template_timeout, tap_id),
            sinks=_sinks(export),
            **gated,
        )
        _stop_on_signals(collector)
        with reporter:
            summary = collector.run(sources)
        if policy is not None:
            from metagate._gating import gate_payload

            gate_run = gated["transform"].gate if chain is not None else gated["transform"]
            inputs = [{"source": s} for s in sources]
            payload = gate_payload(gate_run, inputs, output, "collect")
            payload["packets"] = summary.packets
            record(LedgerPlace.resolve(ledger, ledger_key), "gate.run", payload)
            print_gate_summary(gate_run.report())
        if chain is not None and detect is not None:
            from detectors import write_findings

            count = write_findings(chain.finish(), detect)
            typer.echo(f"findings {count:,} -> {detect}", err=True)
    print_summary(summary)
    raise typer.Exit(summary.exit_status)


@app.command()
def demo() -> None:
    """Collect flows from the embedded sample capture and show what was found."""
    from metagate._demo import run_demo

    raise typer.Exit(run_demo())


class _GateThenDetect:
    """The gate, with each gated batch also fed to the detectors (the pipeline stage after the gate)."""

    def __init__(self, gate: Any, chain: Any) -> None:
        self.gate, self.chain = gate, chain

    def __call__(self, table: Any) -> Any:
        out = self.gate(table)
        self.chain.feed(out)
        return out


def _gate_for(policy: Path | None, place: LedgerPlace) -> dict[str, Any]:
    """The Collector's gate, schema and state seal for a policy; nothing for none."""
    if policy is None:
        return {}
    from filters import Gate, StateSeal

    gate_run = Gate(load_checked(policy))
    place.open().close()  # fail before reading anything when the ledger cannot be written
    seal = StateSeal(gate_run.keys) if gate_run.keys.keys else None
    return {"transform": gate_run, "schema": gate_run.schema, "state_seal": seal}


def _listen_options(messages: int | None, idle: float | None, template_timeout: float, tap_id: str) -> Any:
    from collectors import ListenOptions

    if messages is not None and messages < 1:
        raise ConfigError(f"must be at least 1, got {messages}", field="stop-after-messages")
    if idle is not None and idle <= 0:
        raise ConfigError(f"must be positive, got {idle}", field="stop-when-idle")
    if template_timeout <= 0:
        raise ConfigError(f"must be positive, got {template_timeout}", field="template-timeout")
    return ListenOptions(
        stop_after_messages=messages, stop_when_idle=idle, template_timeout=template_timeout, tap_id=tap_id
    )


def _sinks(export: str | None) -> list[Any]:
    if export is None:
        return []
    from collectors import IpfixExporter

    return [IpfixExporter(export)]


def _stop_on_signals(collector: Collector) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        collector.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main() -> None:
    """The ``metagate`` command line, in this process (ends in SystemExit, as click does)."""
    _narrowed(sys.argv[1:])(prog_name="metagate")


def _narrowed(args: list[str]) -> typer.Typer:
    """``app`` with only the command that ``args`` names, when they name one.

    typer reads the signature of every command before it parses anything (about 18 ms for
    all of ours), and a command line runs one. The top level keeps its help (``--help``
    and no command read the whole ``app``).
    """
    wanted = [c for c in app.registered_commands if args and _command_name(c) == args[0]]
    if len(wanted) != 1:
        return app
    narrow = typer.Typer(add_completion=False, help=app.info.help, callback=_no_options)
    narrow.registered_commands = wanted
    return narrow


def _no_options() -> None:
    """The top level takes no options of its own; a callback keeps it a group of commands."""


def _command_name(command: typer.models.CommandInfo) -> str:
    if command.name:
        return command.name
    assert command.callback is not None
    return command.callback.__name__.lower().replace("_", "-")


def command() -> None:
    """Entry point of the ``metagate`` executable: :func:`main`, then the process ends at once."""
    from metagate._quick_exit import run_then_exit

    run_then_exit(main)


if __name__ == "__main__":
    command()
