"""``metagate gate``: flow record files through the legal gate into GatedRecords.

Each input is read, gated and written in turn. An input that cannot be read or that the
gate refuses is named and skipped; what was written before it stays written. The run ends
with one ``gate.run`` entry in the audit ledger: each input's SHA-256, the policy's hash,
the key ids and the counts by step and reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors import open_writer, read_flow_file
from filters import Gate
from policies import CaptureError, GateViolation


@dataclass
class GateRun:
    inputs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return 3 if self.problems else 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def gate_files(inputs: list[Path], gate: Gate, output: str, fmt: str) -> GateRun:
    """Gate every input into one output; problems are collected, not raised."""
    run = GateRun()
    with open_writer(None if output == "-" else output, fmt, schema=gate.schema) as writer:
        for path in inputs:
            entry: dict[str, Any] = {"path": str(path), "records_in": 0, "records_out": 0}
            run.inputs.append(entry)
            try:
                entry["sha256"] = file_sha256(path)
                for table in read_flow_file(path):
                    gated = gate(table)
                    entry["records_in"] += table.num_rows
                    entry["records_out"] += gated.num_rows
                    writer.write(gated)
            except OSError as exc:
                run.problems.append(f"{path}: cannot read: {exc}")
                entry["error"] = str(exc)
            except (CaptureError, GateViolation) as exc:
                message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                run.problems.append(message)
                entry["error"] = message
    return run


def gate_payload(gate: Gate, run_inputs: list[dict[str, Any]], output: str, mode: str) -> dict[str, Any]:
    """The ledger entry of one gate run."""
    payload = gate.report().payload()
    payload.update({"mode": mode, "inputs": run_inputs, "output": output})
    return payload
