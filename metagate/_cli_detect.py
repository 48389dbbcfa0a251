"""``metagate detect``: GatedRecord files in, findings (JSON lines) out.

Every input is read in turn (Parquet row groups or JSON lines blocks) into one detector
chain, so windows run across files as across batches. An input that cannot be read, or that
holds no GatedRecords, is named and skipped; the rest is still read (exit status 3). A bad
configuration or indicator file stops the run before anything is read (exit status 2); a
bad object inside an indicator file is named and skipped.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._exits import command_errors
from policies import CaptureError, ConfigError, MetagateError

if TYPE_CHECKING:
    import pyarrow as pa

    from detectors import DetectorChain

EXIT_PARTLY_READ = 3
BATCH_ROWS = 65_536


def detect(
    gated: Annotated[list[Path], typer.Argument(help="GatedRecord files (Parquet or JSON lines), in time order")],
    output: Annotated[str, typer.Option("-o", "--output", help="findings as JSON lines; - for stdout")] = "-",
    config: Annotated[
        Path | None, typer.Option("--config", help="detector thresholds (YAML); defaults otherwise")
    ] = None,
    indicators: Annotated[
        Path | None, typer.Option("--indicators", help="the partner's STIX 2.1 indicators (bundle or JSON lines)")
    ] = None,
) -> None:
    """Find scans, brute force, beaconing, floods, reflection and partner indicators in GatedRecords."""
    # pydantic and the detectors load only for this command: other commands do not pay for them
    from detectors import (
        DetectorChain,
        DetectorError,
        IndicatorError,
        load_detector_config,
        load_indicators,
        write_findings,
    )

    with command_errors():
        thresholds = load_detector_config(config)
        try:
            feed = load_indicators(indicators) if indicators is not None else None
        except IndicatorError as exc:  # the feed is a setting of the run: nothing was read yet
            raise ConfigError(str(exc), field="indicators") from exc
    if feed is not None:
        for skipped in feed.problems:
            typer.echo(f"indicator skipped: {skipped}", err=True)
    import pyarrow as pa  # loaded by this command only

    chain = DetectorChain(thresholds, indicators=feed)
    problems: list[str] = []
    for path in gated:
        try:
            pending: list[pa.Table] = []
            for table in _gated_tables(path):
                pending.append(table)
                if sum(t.num_rows for t in pending) >= BATCH_ROWS:  # small row groups fed together: faster
                    chain.feed(pa.concat_tables(pending))
                    pending = []
            if pending:
                chain.feed(pa.concat_tables(pending))
        except (CaptureError, DetectorError) as exc:
            problems.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc}")
    findings = chain.finish()
    with command_errors():
        try:
            write_findings(findings, output)
        except OSError as exc:
            raise DetectorError(f"cannot write the findings: {exc}", path=output) from exc
    for problem in problems:
        typer.echo(f"not read: {problem}", err=True)
    _print_summary(chain, findings_by_kind=Counter(f.kind.value for f in findings))
    raise typer.Exit(EXIT_PARTLY_READ if problems else 0)


def _gated_tables(path: Path) -> Iterator[pa.Table]:
    """The GatedRecords of one file: Parquet with its own schema, JSON lines with the schema its keys name."""
    from collectors import FLOW_FIELDS, read_flow_file  # pyarrow's parquet and json readers: for this command only
    from detectors import DetectorError
    from filters import GATE_FIELD_NAMES, gated_schema

    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(0)
        first = handle.readline() if head != b"PAR1" else b""
    if head == b"PAR1":
        yield from read_flow_file(path, schema=None)
        return
    if not first.strip():
        return
    try:
        keys = set(json.loads(first))
    except (ValueError, TypeError) as exc:
        raise CaptureError(f"not JSON lines: {exc}", path=path) from exc
    if not keys & GATE_FIELD_NAMES:
        raise DetectorError("these are not GatedRecords (no traffic_class): run them through the gate", path=path)
    try:
        schema = gated_schema(keys & set(FLOW_FIELDS))
    except MetagateError as exc:
        raise DetectorError(f"not GatedRecords: {exc}", path=path) from exc
    yield from read_flow_file(path, schema=schema)


def _print_summary(chain: DetectorChain, findings_by_kind: Counter[str]) -> None:
    out = sys.stderr
    total = sum(findings_by_kind.values())
    print(f"detect: {chain.records:,} records, {total:,} findings", file=out)
    for kind, count in sorted(findings_by_kind.items()):
        print(f"  {kind}: {count:,}", file=out)
    for kind, stats in chain.stats().items():
        late = sum(v for k, v in stats.items() if k.endswith("late"))
        over = sum(v for k, v in stats.items() if k.endswith("over_bound"))
        if late or over:
            print(f"  {kind}: {late:,} records late, {over:,} over the state bound (dropped)", file=out)
