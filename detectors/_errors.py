"""The detectors' room of the error tree.

::

    MetagateError                       (policies)
    └── DetectorError       gated records the detectors cannot read (file, column)
        └── IndicatorError  a partner indicator that cannot be used (file, object id)

A bad indicator file or a bad object inside it is named and skipped by the caller where it
can be (the rest of the feed is still matched); a table without the columns detection needs
stops that table only.
"""

from __future__ import annotations

from pathlib import Path

from policies import MetagateError


class DetectorError(MetagateError):
    """Records that are not GatedRecords the detectors can read.

    ``path`` is the file (``None`` for an in-memory table), ``field`` the column at fault.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, field: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.field = field
        self.reason = message
        where = [w for w in (self.path, field) if w]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class IndicatorError(DetectorError):
    """A partner indicator (or the file holding them) that cannot be matched.

    ``object_id`` is the STIX id of the object at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, object_id: str | None = None) -> None:
        self.object_id = object_id
        super().__init__(message, path=path, field=object_id)
