"""Findings as JSON lines: one finding a line, sorted, written whole or not at all."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from detectors._errors import DetectorError
from detectors._finding import Finding


def write_findings(findings: Iterable[Finding], output: str | Path) -> int:
    """Write ``findings`` sorted to ``output`` (``-``: stdout) via a temporary file renamed at the end; the count."""
    ordered = sorted(findings, key=Finding.sort_key)
    text = "".join(f.to_json() + "\n" for f in ordered)
    if str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return len(ordered)
    path = Path(output)
    if path.exists() and not path.is_file():  # a device or a pipe: written directly
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
        return len(ordered)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return len(ordered)


def read_findings(path: str | Path) -> list[Finding]:
    """The findings of a JSON lines file written by :func:`write_findings`."""
    path = Path(path)
    found = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DetectorError(f"cannot read the findings: {exc}", path=path) from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(Finding.model_validate_json(line))
        except ValidationError as exc:
            raise DetectorError(f"line {number} is not a finding: {exc.errors()[0]['msg']}", path=path) from exc
    return found
