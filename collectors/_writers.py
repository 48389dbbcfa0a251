"""Flow record writers: JSON lines, CSV, Parquet and Zeek's conn.log, to a file or stdout.

Encodings (every format writes the FLOW_SCHEMA columns, in its order, unless said otherwise):

- ``jsonl``: one JSON object a flow; timestamps ISO 8601 UTC with microseconds
  (``2024-05-01T12:00:00.123456Z``), lists as arrays, nulls as ``null``.
- ``csv``: a header row, ``\\n`` line ends, RFC 4180 quoting; timestamps as in jsonl; a null is
  an empty cell; a list (``mpls``, ``tunnel_parents``) is its elements joined with ``;`` (no
  element can hold one: labels are numbers, Community IDs are base64), an empty list an empty cell.
- ``parquet``: FLOW_SCHEMA, one row group per written table.
- ``ipfix``: IPFIX messages back to back (collectors/_ipfix_export.py), biflow elements.
- ``zeek``: conn.log as Zeek's ASCII writer lays out TSV logs, with Zeek's conn.log columns,
  then ``vlan`` / ``inner_vlan`` (policy ``vlan-logging``) and ``community_id`` (policy
  ``community-id-logging``). Zeek's newer ``ip_proto`` column is not written. Where we differ:

  * ``uid``: ``C`` + 17 base62 characters of SHA-256(flow_id, start), stable across runs;
  * ``tunnel_parents``: the parents' Community IDs as they are (their Zeek uids would need
    their start times, which an inner flow does not know);
  * ``service``, ``orig_bytes``, ``resp_bytes``, ``local_orig``, ``local_resp``: unset (``-``);
    ``missed_bytes`` 0. As Zeek does, ``duration`` is unset for a flow of zero duration,
    ``history`` for an empty history and ``tunnel_parents`` for a flow not tunnelled.
  * ``#open`` / ``#close`` are wall-clock times in local time, like Zeek's.

Files are written under ``NAME.partial`` and renamed to ``NAME`` by :meth:`FlowWriter.close`, so
a run that dies never leaves a file that looks complete. ``path`` ``None`` or ``"-"`` is stdout; an
existing path that is no regular file (``/dev/null``, a FIFO) is written directly, never renamed over.

Resuming (the capture-ring checkpoint): :meth:`FlowWriter.position` is the byte size of the
output at the last :meth:`FlowWriter.flush`. After a crash, ``_partial.truncate_to`` cuts the
output back to a checkpointed size and ``open_writer(..., append=True)`` continues it: a
leftover ``NAME.partial`` first, else a finished ``NAME`` (csv writes no second header; zeek
drops the ``#close`` line first). Parquet files cannot be continued: with ``append=True`` a
new part ``STEM.partN.parquet`` (the first free N from 1) is written beside ``STEM.parquet``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import pyarrow as pa

from collectors._jsonl import encode_jsonl
from collectors._partial import partial_path
from collectors._schema import FLOW_SCHEMA
from policies import ConfigError

FORMATS = ("csv", "ipfix", "jsonl", "parquet", "zeek")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS_FIELDS = frozenset({"start", "end"})
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def iso_utc(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC with microseconds."""
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _conform(table: pa.Table, schema: pa.Schema = FLOW_SCHEMA) -> pa.Table:
    """``table`` with exactly ``schema``; ValueError when it cannot be."""
    if table.schema.equals(schema):
        return table
    try:
        return table.select(list(schema.names)).cast(schema)
    except (KeyError, pa.ArrowException) as exc:
        raise ValueError(f"not a table of the output's schema: {exc}") from exc


def _rows(table: pa.Table, schema: pa.Schema = FLOW_SCHEMA) -> Iterator[dict[str, Any]]:
    """The rows of a table as dicts, timestamps as integer microseconds."""
    table = _conform(table, schema)
    columns = {
        name: (col.cast(pa.int64()) if name in _TS_FIELDS else col).to_pylist()
        for name, col in zip(table.column_names, table.columns, strict=True)
    }
    for i in range(table.num_rows):
        yield {name: values[i] for name, values in columns.items()}


class FlowWriter:
    """Writes flow tables to one output; use as a context manager or call :meth:`close`."""

    binary_stdout = False

    def __init__(self, path: str | Path | None, *, append: bool = False, schema: pa.Schema = FLOW_SCHEMA) -> None:
        self.schema = schema
        self.records = 0
        self.path: Path | None = None if path is None or str(path) == "-" else Path(path)
        self._fh: IO[bytes]
        self._written = 0
        self._flushed = 0
        self._closed = False
        self._direct = False
        if self.path is None:
            sys.stdout.flush()
            self._fh = sys.stdout.buffer
            self._start(existing=b"")
            return
        if self.path.exists() and not self.path.is_file():
            # a device or a pipe (/dev/null, a FIFO): written as it is, never replaced by a rename
            self._direct = True
            self._fh = self.path.open("wb")
            self._start(existing=b"")
            return
        partial = partial_path(self.path)
        if append and not partial.exists() and self.path.exists():
            self.path.replace(partial)
        if append and partial.exists():
            self._fh = partial.open("r+b")
            self._fh.seek(0, os.SEEK_END)
            self._written = self._flushed = self._fh.tell()
            self._start(existing=self._tail())
        else:
            self._fh = partial.open("wb")
            self._start(existing=b"")

    def _tail(self) -> bytes:
        """The last line of the output being continued (empty for an empty file)."""
        size = self._written
        self._fh.seek(max(0, size - 4096))
        chunk = self._fh.read()
        self._fh.seek(size)
        return chunk[chunk.rfind(b"\n", 0, len(chunk) - 1) + 1 :] if chunk else b""

    def _start(self, existing: bytes) -> None:
        """Write what the format needs first; ``existing`` is the last line of a continued file."""

    def _encode(self, table: pa.Table) -> bytes:
        raise NotImplementedError

    def _trailer(self) -> bytes:
        return b""

    def _emit(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self._written += len(data)

    def write(self, table: pa.Table) -> None:
        """Append the flows of one FLOW_SCHEMA table."""
        if self._closed:
            raise ValueError("write to a closed flow writer")
        self._emit(self._encode(table))
        self.records += table.num_rows

    def flush(self) -> None:
        """Push everything written so far to the output (and the disk, for files)."""
        self._fh.flush()
        if self.path is not None and not self._direct:
            os.fsync(self._fh.fileno())
        self._flushed = self._written

    def position(self) -> int:
        """The byte size of the output at the last :meth:`flush`."""
        return self._flushed

    def close(self) -> None:
        """Finish the output and, for a file, give it its final name."""
        if self._closed:
            return
        self._closed = True
        self._emit(self._trailer())
        self.flush()
        if self.path is not None:
            self._fh.close()
            if not self._direct:
                partial_path(self.path).replace(self.path)

    def abort(self) -> None:
        """Stop without finishing: a file stays at its ``.partial`` name, ready to resume."""
        if self._closed:
            return
        self._closed = True
        if self.path is not None:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class JsonlWriter(FlowWriter):
    """One JSON object a flow."""

    def _encode(self, table: pa.Table) -> bytes:
        return encode_jsonl(_conform(table, self.schema))

    def write_lines(self, lines: bytes | memoryview, records: int) -> None:
        """Append ``records`` FlowRecords already encoded as JSON lines (a FLOW_SCHEMA writer only)."""
        if self._closed:
            raise ValueError("write to a closed flow writer")
        if self.schema is not FLOW_SCHEMA:
            raise ValueError("encoded FlowRecords go only to a FlowRecord writer")
        self._emit(lines)
        self.records += records


class CsvWriter(FlowWriter):
    """A header row, then one row a flow (encoding in the module docstring)."""

    def _start(self, existing: bytes) -> None:
        if not existing:
            self._emit(self._csv([list(self.schema.names)]))

    @staticmethod
    def _csv(rows: list[list[Any]]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode("utf-8")

    @staticmethod
    def _cell(name: str, value: Any) -> Any:
        if value is None:
            return ""
        if name in _TS_FIELDS:
            return iso_utc(value)
        if isinstance(value, list):
            return ";".join(str(v) for v in value)
        return value

    def _encode(self, table: pa.Table) -> bytes:
        return self._csv([[self._cell(k, v) for k, v in row.items()] for row in _rows(table, self.schema)])


ZEEK_FIELDS: tuple[tuple[str, str], ...] = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
    ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"),
    ("local_orig", "bool"), ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"),
    ("orig_pkts", "count"), ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"), ("vlan", "int"), ("inner_vlan", "int"), ("community_id", "string"),
)  # fmt: skip
_ZEEK_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
_UNSET, _EMPTY = "-", "(empty)"
_ZEEK_SOURCE_FIELDS = (
    "flow_id", "start", "end", "orig_addr", "orig_port", "resp_addr", "resp_port", "proto", "conn_state",
    "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents", "vlan", "inner_vlan",
)  # fmt: skip


def zeek_uid(flow_id: str, start_us: int) -> str:
    """A Zeek-style connection uid (``C`` + 17 base62 characters) for one flow record."""
    digest = hashlib.sha256(f"{flow_id}|{start_us}".encode()).digest()
    n = int.from_bytes(digest[:12], "big")
    chars = []
    for _ in range(17):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "C" + "".join(chars)


def _zeek_str(value: str, set_element: bool = False) -> str:
    """Escape a string the way Zeek's ASCII writer does."""
    if value == "":
        return _EMPTY
    if value in (_UNSET, _EMPTY):
        return f"\\x{ord(value[0]):02x}{value[1:]}"
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t" or ord(ch) < 0x20 or ord(ch) == 0x7F or (set_element and ch == ","):
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _seconds(us: int) -> str:
    """Microseconds as seconds with 6 decimals, without float rounding."""
    sign = "-" if us < 0 else ""
    whole, frac = divmod(abs(us), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


class ZeekWriter(FlowWriter):
    """Zeek's conn.log in TSV (see the module docstring for the columns and what differs)."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        append: bool = False,
        schema: pa.Schema = FLOW_SCHEMA,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        missing = [name for name in _ZEEK_SOURCE_FIELDS if name not in schema.names]
        if missing:
            raise ConfigError(f"a conn.log needs the fields {', '.join(missing)}", field="format")
        super().__init__(path, append=append, schema=schema)

    def _stamp(self) -> str:
        return time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(self._clock()))

    def _start(self, existing: bytes) -> None:
        if existing.startswith(b"#close"):
            self._written -= len(existing)
            self._fh.seek(self._written)
            self._fh.truncate()
            self._flushed = self._written
        if existing:
            return
        header = [
            "#separator \\x09",
            "#set_separator\t,",
            f"#empty_field\t{_EMPTY}",
            f"#unset_field\t{_UNSET}",
            "#path\tconn",
            f"#open\t{self._stamp()}",
            "#fields\t" + "\t".join(name for name, _ in ZEEK_FIELDS),
            "#types\t" + "\t".join(kind for _, kind in ZEEK_FIELDS),
        ]
        self._emit(("\n".join(header) + "\n").encode("utf-8"))

    @staticmethod
    def _line(row: dict[str, Any]) -> str:
        start, span = row["start"], row["end"] - row["start"]
        parents = row["tunnel_parents"]
        cells = [
            _seconds(start),
            zeek_uid(row["flow_id"], start),
            row["orig_addr"],
            str(row["orig_port"]),
            row["resp_addr"],
            str(row["resp_port"]),
            _ZEEK_PROTO.get(row["proto"], "unknown_transport"),
            _UNSET,
            _seconds(span) if span > 0 else _UNSET,
            _UNSET,
            _UNSET,
            _zeek_str(row["conn_state"]),
            _UNSET,
            _UNSET,
            "0",
            _zeek_str(row["history"]) if row["history"] else _UNSET,
            str(row["orig_pkts"]),
            str(row["orig_ip_bytes"]),
            str(row["resp_pkts"]),
            str(row["resp_ip_bytes"]),
            ",".join(_zeek_str(p, set_element=True) for p in parents) if parents else _UNSET,
            _UNSET if row["vlan"] is None else str(row["vlan"]),
            _UNSET if row["inner_vlan"] is None else str(row["inner_vlan"]),
            _zeek_str(row["flow_id"]),
        ]
        return "\t".join(cells)

    def _encode(self, table: pa.Table) -> bytes:
        return "".join(self._line(row) + "\n" for row in _rows(table, self.schema)).encode("utf-8")

    def _trailer(self) -> bytes:
        return f"#close\t{self._stamp()}\n".encode()


def next_part(path: str | Path) -> Path:
    """``path`` if it is free, else the first free ``STEM.partN.parquet`` beside it."""
    path = Path(path)
    candidate, n = path, 0
    while candidate.exists() or partial_path(candidate).exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.part{n}{path.suffix}")
    return candidate


class ParquetFlowWriter(FlowWriter):
    """Parquet with FLOW_SCHEMA, one row group per written table."""

    def __init__(self, path: str | Path | None, *, append: bool = False, schema: pa.Schema = FLOW_SCHEMA) -> None:
        if append and path is not None and str(path) != "-":
            path = next_part(path)
        super().__init__(path, append=False, schema=schema)
        import pyarrow.parquet as pq  # loaded by the parquet format only

        self._pq = pq.ParquetWriter(self._fh, schema)

    def write(self, table: pa.Table) -> None:
        """Append the flows of one FLOW_SCHEMA table as one row group."""
        if self._closed:
            raise ValueError("write to a closed flow writer")
        table = _conform(table, self.schema)
        self._pq.write_table(table)
        self.records += table.num_rows

    def position(self) -> int:
        """The bytes written so far (a Parquet file is readable only once closed)."""
        return self._fh.tell() if self.path is not None else self._flushed

    def close(self) -> None:
        """Write the footer and give the file its final name."""
        if not self._closed:
            self._pq.close()
        super().close()

    def abort(self) -> None:
        """Stop: the file stays at its ``.partial`` name."""
        if not self._closed:
            with contextlib.suppress(OSError, pa.ArrowException):
                self._pq.close()
        super().abort()


_WRITERS: dict[str, type[FlowWriter]] = {
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
    "parquet": ParquetFlowWriter,
    "zeek": ZeekWriter,
}


def open_writer(
    path: str | Path | None, fmt: str, *, append: bool = False, schema: pa.Schema | None = None
) -> FlowWriter:
    """A writer of ``fmt`` (csv, ipfix, jsonl, parquet, zeek) to ``path`` (``None`` or ``"-"``: stdout).

    ``schema`` is FLOW_SCHEMA (None) for flow records; the gate passes its GatedRecord schema.
    """
    schema = FLOW_SCHEMA if schema is None else schema
    if fmt == "ipfix":  # binary, and it imports this module: loaded when asked for
        from collectors._ipfix_export import IpfixFileWriter

        return IpfixFileWriter(path, append=append, schema=schema)
    try:
        cls = _WRITERS[fmt]
    except KeyError:
        raise ConfigError(f"unknown format {fmt!r}, expected one of {', '.join(FORMATS)}", field="format") from None
    return cls(path, append=append, schema=schema)
