"""The exchange's room of the error tree.

::

    MetagateError                        (policies)
    └── ExchangeError                    (policies) the partner, a TAXII server or a STIX object failed
        ├── StixInvalid                  an object stix2-validator refuses (object id, the errors)
        ├── ReviewError                  a review step the queue refuses (item, its state, why)
        └── PartnerError                 the partner's TAXII server failed or refused (partner, objects, HTTP status)

Every error names what it is about in structured fields a test can assert on, and in its
message: the partner and the object ids for a partner error, the item and its state for a
review error. Errors of requests, taxii2-client, stix2 and stix2-validator are caught where
they enter and re-raised as one of these, chained.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies import ExchangeError

_SHOWN = 5  # object ids named in a message; the count says how many more


def name_objects(object_ids: Sequence[str]) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    shown = ", ".join(object_ids[:_SHOWN])
    more = len(object_ids) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


class StixInvalid(ExchangeError):
    """An object that stix2-validator (default mode) finds invalid; it is not queued or stored."""

    def __init__(self, object_id: str, errors: Sequence[str], *, partner: str | None = None) -> None:
        self.object_id = object_id
        self.errors = tuple(errors)
        self.partner = partner
        where = f"partner {partner}: " if partner else ""
        super().__init__(f"{where}{object_id}: not valid STIX 2.1: {'; '.join(self.errors)}")


class ReviewError(ExchangeError):
    """A review step the outbound queue refuses: unknown item, wrong state, same approver twice."""

    def __init__(self, message: str, *, item: int | None = None, state: str | None = None) -> None:
        self.item = item
        self.state = state
        self.reason = message
        where = f"item {item}" + (f" ({state})" if state else "") + ": " if item is not None else ""
        super().__init__(f"{where}{message}")


class PartnerError(ExchangeError):
    """The partner's TAXII server could not be reached, or refused or failed a request.

    ``partner`` is the agreement's partner name, ``object_ids`` the objects the request
    carried (empty for a request about none), ``status`` the HTTP status when there was an
    answer, ``retryable`` whether trying again later can help (a refused password cannot).
    """

    def __init__(
        self,
        message: str,
        *,
        partner: str,
        object_ids: Sequence[str] = (),
        status: int | None = None,
        retryable: bool = True,
    ) -> None:
        self.partner = partner
        self.object_ids = tuple(object_ids)
        self.status = status
        self.retryable = retryable
        self.reason = message
        about = f" ({name_objects(self.object_ids)})" if self.object_ids else ""
        super().__init__(f"partner {partner}{about}: {message}")
