"""``metagate demo``: collect the embedded sample capture and show what was found.

The sample (metagate/data/demo.pcap, written by ``bench/make_workload.py --packets 4000
--seed 7``) is a few minutes of carrier-like traffic: TCP, DNS, UDP streams and ICMP, some of
it in VLANs, MPLS, GTP-U, VXLAN and GRE. The flows then go through the legal gate under
metagate/data/demo-policy.yaml (jp-acd), with a key made for the run and thrown away. Last,
the main job runs on the sample and two attacks, sharing with medallion on loopback
(metagate._demo_job).
"""

from __future__ import annotations

import secrets
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from collectors import Collector, make_engine
from filters import Gate, GateReport
from metagate._demo_job import run_main_job
from metagate._report import print_summary
from policies import load_policy

_TOP_COLUMNS = ("orig_addr", "orig_port", "resp_addr", "resp_port", "proto", "bytes", "history", "conn_state", "tunnel")


def run_demo() -> int:
    """Collect the sample; print counts by protocol, tunnel and state, and the largest flows."""
    console = Console(width=None if Console().is_terminal else 120)
    with as_file(files("metagate") / "data" / "demo.pcap") as capture, tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "flows.parquet"
        summary = Collector(make_engine("fast"), str(output), "parquet").run([str(capture)])
        flows = pq.read_table(output)
        report = _gate(flows, Path(tmp))
        flows = flows.set_column(flows.schema.get_field_index("tunnel"), "tunnel", _tunnel_kinds(flows))
        console.print(f"[bold]metagate demo[/bold]: {capture.name}, engine fast")
        print_summary(summary)
        console.print(_counts(flows, "proto", "flows by IP protocol"))
        console.print(_counts(flows, "tunnel", "flows by tunnel (none = not tunnelled)"))
        console.print(_counts(flows, "conn_state", "flows by conn_state"))
        console.print(_top(flows))
        console.print(
            f"[bold]the legal gate[/bold] ({report.policy}, a throwaway key made for this demo): "
            f"{report.records_in:,} flows in, {report.records_out:,} passed"
        )
        console.print(_reasons(report))
        console.print(
            "[bold]the main job[/bold] (metagate run --local-partner --auto-approve), with two attacks added:"
        )
        job_status = run_main_job(capture, Path(tmp), console)
    return summary.exit_status or job_status


def _gate(flows: pa.Table, folder: Path) -> GateReport:
    """The sample's flows through the jp-acd gate under the demo policy."""
    policy_file = folder / "demo-policy.yaml"
    policy_file.write_bytes((files("metagate") / "data" / "demo-policy.yaml").read_bytes())
    (folder / "demo-key.hex").write_text(secrets.token_hex(32) + "\n")
    gate = Gate(load_policy(policy_file))
    gate(flows)
    return gate.report()


def _reasons(report: GateReport) -> Table:
    table = Table(title="gate decisions by reason")
    for name in ("step", "reason", "flows"):
        table.add_column(name, justify="right" if name == "flows" else "left")
    for step, reasons in report.counts.items():
        for reason, count in reasons.items():
            table.add_row(step, reason, f"{count:,}")
    return table


def _tunnel_kinds(flows: pa.Table) -> pa.Array:
    """``vxlan:5001`` -> ``vxlan``: one row a kind of tunnel, not one a segment."""
    kinds = [None if t is None else ",".join(part.split(":")[0] for part in t.split(",")) for t in
             flows["tunnel"].to_pylist()]
    return pa.array(kinds, pa.string())


def _counts(flows: pa.Table, column: str, title: str) -> Table:
    table = Table(title=title)
    table.add_column(column)
    table.add_column("flows", justify="right")
    counts = pc.value_counts(flows[column]).to_pylist()
    for item in sorted(counts, key=lambda c: -c["counts"]):
        table.add_row(str(item["values"] if item["values"] is not None else "none"), f"{item['counts']:,}")
    return table


def _top(flows: pa.Table, n: int = 10) -> Table:
    volume = pc.add(flows["orig_ip_bytes"], flows["resp_ip_bytes"])
    top = flows.append_column("bytes", volume).sort_by([("bytes", "descending")]).slice(0, n)
    table = Table(title=f"the {n} largest flows")
    for name in _TOP_COLUMNS:
        table.add_column(name)
    for row in top.to_pylist():
        table.add_row(*("" if row[name] is None else str(row[name]) for name in _TOP_COLUMNS))
    return table
