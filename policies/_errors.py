"""The one exception tree of metagate.

Every error metagate raises derives from :class:`MetagateError`; each room of the design
has its own subclass, and third-party exceptions are caught where they enter our code and
re-raised as one of these, chained with ``from exc``::

    MetagateError
    ├── CaptureError        a packet source could not be read (file, offset)
    │   └── NotACaptureError    the input is no pcap / pcapng at all
    ├── DecodeError         a packet could not be decoded (file, offset, kind)
    ├── PolicyError         a policy, approval or key is invalid or missing
    │   └── GateViolation   the legal gate met something it does not understand
    ├── ExchangeError       the partner, the TAXII server or a STIX object failed
    └── ConfigError         a command-line or configuration value is invalid

The tree lives in ``policies`` because ``policies`` is the one package every other room may
import (DESIGN.md, "The way data flows").
"""

from __future__ import annotations

from pathlib import Path


class MetagateError(Exception):
    """Root of every error metagate raises."""


class CaptureError(MetagateError):
    """A packet source could not be read, or could be read only in part."""

    def __init__(self, message: str, *, path: str | Path | None = None, offset: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.offset = offset
        where = ""
        if self.path is not None:
            where = self.path if offset is None else f"{self.path} at byte {offset}"
            where += ": "
        super().__init__(f"{where}{message}")
        self.reason = message


class NotACaptureError(CaptureError):
    """The input is not a capture file metagate can read (nothing was read from it)."""


class DecodeError(MetagateError):
    """A packet could not be decoded."""

    def __init__(self, message: str, *, kind: str, path: str | None = None, offset: int | None = None) -> None:
        self.kind = kind
        self.path = path
        self.offset = offset
        super().__init__(message)


class PolicyError(MetagateError):
    """A policy, approval, agreement or key reference is invalid or missing.

    ``path`` is the file, ``line`` its 1-based line, ``field`` the dotted path inside it
    (``approvals.0.valid_until``), each ``None`` when it does not apply.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = [self.path] if self.path else []
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(field)
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class GateViolation(PolicyError):
    """The legal gate met something it does not understand; the record does not pass."""


class ExchangeError(MetagateError):
    """A STIX object, the partner or a TAXII server failed."""


class ConfigError(MetagateError):
    """A command-line option or configuration value is invalid."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
