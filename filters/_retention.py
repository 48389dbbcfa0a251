"""Retention: gated records past their ``retain_until`` are deleted from the store.

The store is a directory of Parquet files of GatedRecords (what ``metagate gate`` and
``metagate collect --policy`` write). A file whose records have all expired is deleted; a
file with some expired is rewritten without them (to a temporary name, then renamed over,
so a crash leaves either the old or the new file, never half of one). What was deleted is
returned for the audit ledger: files, records, and the newest ``retain_until`` removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters._schema import GATE_FIELD_NAMES
from policies import CaptureError


@dataclass
class RetentionResult:
    files_seen: int = 0
    files_deleted: list[str] = field(default_factory=list)
    files_rewritten: list[str] = field(default_factory=list)
    records_deleted: int = 0
    records_kept: int = 0
    skipped: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen,
            "files_deleted": self.files_deleted,
            "files_rewritten": self.files_rewritten,
            "records_deleted": self.records_deleted,
            "records_kept": self.records_kept,
            "skipped": self.skipped,
        }


def apply_retention(store: Path, now: datetime) -> RetentionResult:
    """Delete every gated record of ``store`` (a directory or one file) whose retention has ended."""
    result = RetentionResult()
    paths = sorted(store.rglob("*.parquet")) if store.is_dir() else [store]
    cutoff = pa.scalar(now, pa.timestamp("us", tz="UTC"))
    for path in paths:
        result.files_seen += 1
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError(f"cannot read gated records: {exc}", path=path) from exc
        if not set(table.column_names) >= GATE_FIELD_NAMES:
            result.skipped.append(f"{path}: not gated records (no retain_until)")
            continue
        expired = pc.less_equal(table["retain_until"], cutoff)
        gone = int(pc.sum(expired).as_py() or 0)
        result.records_deleted += gone
        result.records_kept += table.num_rows - gone
        if gone == 0:
            continue
        if gone == table.num_rows:
            path.unlink()
            result.files_deleted.append(str(path))
            continue
        tmp = path.with_name(path.name + ".retention")
        pq.write_table(table.filter(pc.invert(expired)), tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        result.files_rewritten.append(str(path))
    return result
