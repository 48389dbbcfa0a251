"""Flow record files read back: Parquet and JSON lines, as written by the writers.

The gate, the detectors and retention read what an earlier step wrote. A file that does not
hold records of the expected schema is an error naming the file; a JSON line with a field
the schema does not know is refused, not dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from collectors._schema import FLOW_SCHEMA
from policies import CaptureError

READ_FORMATS = ("jsonl", "parquet")


def flow_file_format(path: Path) -> str:
    """``parquet`` for a file starting with Parquet's magic, else ``jsonl``."""
    with path.open("rb") as handle:
        return "parquet" if handle.read(4) == b"PAR1" else "jsonl"


def read_flow_file(path: str | Path, schema: pa.Schema | None = FLOW_SCHEMA) -> Iterator[pa.Table]:
    """The records of one file, a table per row group (Parquet) or block (JSON lines).

    ``schema`` None keeps a Parquet file's own schema (JSON lines always need one).
    """
    path = Path(path)
    try:
        fmt = flow_file_format(path)
        if fmt == "parquet":
            parquet = pq.ParquetFile(path)
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group)
                yield table if schema is None else _cast(table, schema, path)
            return
        if schema is None:
            raise CaptureError("JSON lines need a schema to be read", path=path)
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        table = pj.read_json(path, parse_options=options)
        yield _cast(table, schema, path)
    except OSError as exc:
        raise CaptureError(f"cannot read the flow records: {exc}", path=path) from exc
    except pa.ArrowException as exc:
        raise CaptureError(f"not a file of flow records: {exc}", path=path) from exc


def _cast(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    missing = [name for name in schema.names if name not in table.column_names]
    extra = [name for name in table.column_names if name not in schema.names]
    if missing or extra:
        raise CaptureError(f"columns differ from the records expected: missing {missing}, unknown {extra}", path=path)
    return table.select(schema.names).cast(schema)
