"""Deterministic STIX ids and timestamps.

An indicator's id is the uuid5 of the partner and its pattern: the same indicator shared with
the same partner again is a new *version* of one object (same id, later ``modified``), never
a second object; two partners never see the same id, so what one holds cannot be linked to
what another holds by id. A sighting's id is the uuid5 of the partner, what it sights and the
finding it reports; the producer's identity's id is the uuid5 of the partner and our name.

STIX timestamps are written with exactly three decimals (milliseconds, as the specification
requires at least); TAXII cursors keep microseconds (:func:`taxii_stamp`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

# a fixed namespace: metagate's STIX ids are uuid5 of what the object is about
NAMESPACE = uuid.UUID("3b1d7c2e-9a4f-5e60-8c1b-5f2e7a9d4c30")
_NAMESPACE_BYTES = NAMESPACE.bytes
_MS = timedelta(milliseconds=1)


def indicator_id(partner: str, pattern: str) -> str:
    return f"indicator--{uuid5(f'indicator|{partner}|{pattern}')}"


def sighting_id(partner: str, sighting_of: str, finding_id: str) -> str:
    return f"sighting--{uuid5(f'sighting|{partner}|{sighting_of}|{finding_id}')}"


def identity_id(partner: str, producer: str) -> str:
    return f"identity--{uuid5(f'identity|{partner}|{producer}')}"


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` (RFC 4122 section 4.3), without building UUID objects on the way."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def stix_stamp(moment: datetime) -> str:
    """``2025-01-31T12:00:00.123Z``: UTC, milliseconds (truncated, never rounded up)."""
    if moment.tzinfo is None:
        raise ValueError("a STIX timestamp needs an aware datetime")
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat truncates too, and is C: "...:00.123+00:00"
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def taxii_stamp(moment: datetime) -> str:
    """``2025-01-31T12:00:00.123456Z``: UTC, microseconds (TAXII's ``added_after``)."""
    if moment.tzinfo is None:
        raise ValueError("a TAXII timestamp needs an aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    """A STIX or TAXII timestamp (``Z``, any number of decimals) as an aware datetime."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}")
    body = text[:-1]
    if "." in body:
        whole, fraction = body.split(".", 1)
        if not fraction.isdigit():
            raise ValueError(f"not a timestamp: {text!r}")
        body = f"{whole}.{(fraction + '000000')[:6]}"
        moment = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S.%f")
    else:
        moment = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    return moment.replace(tzinfo=UTC)


def later_than(moment: datetime, previous: str | None) -> datetime:
    """``moment``, or one millisecond after ``previous`` when it is not later (``modified`` must grow)."""
    if previous is None:
        return moment
    floor = parse_stamp(previous) + _MS
    return moment if moment >= floor else floor
