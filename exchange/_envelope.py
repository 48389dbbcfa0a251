"""What a TAXII 2.1 listing returns: the filters and paging of objects, manifest and versions.

Pure functions over :class:`Entry` (one object version a collection holds, with its
``date_added``), so that the rules are tested without HTTP (tests/exchange/test_taxii_filters.py):

- ``match[id]``, ``match[type]``, ``match[spec_version]``: comma-separated, any value matches;
  different filters must all match.
- ``match[version]``: ``last`` (the default), ``first``, ``all`` or exact versions (STIX
  timestamps, compared as instants), comma-separated; chosen among the versions the other
  ``match`` filters left, *before* ``added_after`` is applied. So a client that follows the
  latest version of each object never receives an older version that was published late.
- ``added_after``: strictly later ``date_added``.
- Results ascend by ``date_added`` (then id and version, so the order is total).
- ``limit``: a positive integer; above the server's maximum it is lowered to it (the spec
  allows that; taxii2-client adapts). Anything else is a 400.
- ``next``: a token naming the last entry of the page and the filters it was issued for. It
  holds no server state, so it does not expire and survives a restart; used with other
  filters, or altered, it is a 400. Anything published after the listing began sorts after
  every position already handed out, so paging on sees it rather than skipping anything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from exchange._ids import parse_stamp, taxii_stamp

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION_WORDS = ("last", "first", "all")


class TaxiiError(Exception):
    """An answer other than success, rendered as a TAXII error message with ``status``."""

    def __init__(self, status: int, title: str, description: str | None = None) -> None:
        self.status = status
        self.title = title
        self.description = description
        super().__init__(f"{status} {title}" + (f": {description}" if description else ""))


@functools.lru_cache(maxsize=65_536)  # a listing parses the same few thousand stamps on every request
def micros(text: str) -> int:
    """A STIX or TAXII timestamp as microseconds since the epoch."""
    moment = parse_stamp(text)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def stamp(us: int) -> str:
    """Microseconds since the epoch as a TAXII timestamp (always six decimals)."""
    return taxii_stamp(_EPOCH + timedelta(microseconds=us))


@dataclass(frozen=True)
class Entry:
    """One object version a collection serves."""

    object_id: str
    version: str
    type: str
    spec_version: str
    added_us: int
    version_us: int

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.added_us, self.object_id, self.version_us)

    def manifest(self) -> dict[str, str]:
        return {
            "id": self.object_id,
            "date_added": stamp(self.added_us),
            "version": self.version,
            "media_type": STIX_MEDIA_TYPE,
        }


@dataclass(frozen=True)
class Query:
    limit: int
    added_after: int | None = None
    after: tuple[int, str, int] | None = None  # the position a next token names
    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    versions: tuple[str, ...] = ("last",)
    spec_versions: frozenset[str] | None = None
    digest: str = ""


@dataclass(frozen=True)
class Page:
    entries: tuple[Entry, ...]
    more: bool
    next: str | None

    def headers(self) -> dict[str, str]:
        """``X-TAXII-Date-Added-First`` / ``-Last`` of the page (none for an empty one)."""
        if not self.entries:
            return {}
        return {
            "X-TAXII-Date-Added-First": stamp(self.entries[0].added_us),
            "X-TAXII-Date-Added-Last": stamp(self.entries[-1].added_us),
        }


def parse_query(
    args: Mapping[str, str], *, scope: str, default_limit: int, max_limit: int, filters: Iterable[str]
) -> Query:
    """The query of a request; TaxiiError 400 naming the parameter that is wrong.

    ``scope`` (the request path) and the filters are folded into the next token's digest;
    ``filters`` are the ``match[...]`` names this endpoint takes (others are ignored).
    """
    allowed = set(filters)
    limit = default_limit
    if "limit" in args:
        text = args["limit"].strip()
        if not text.isdigit() or int(text) < 1:
            raise TaxiiError(400, "invalid limit", f"limit must be a positive integer, not {args['limit']!r}")
        limit = min(int(text), max_limit)
    added_after = None
    if "added_after" in args:
        try:
            added_after = micros(args["added_after"].strip())
        except ValueError:
            raise TaxiiError(
                400, "invalid added_after", f"added_after must be a UTC timestamp, not {args['added_after']!r}"
            ) from None
    values = {name: _list(args[f"match[{name}]"]) for name in allowed if f"match[{name}]" in args}
    versions = values.get("version") or ("last",)
    for value in versions:
        if value not in _VERSION_WORDS:
            try:
                micros(value)
            except ValueError:
                raise TaxiiError(
                    400, "invalid match[version]", f"{value!r} is neither last, first, all nor a STIX timestamp"
                ) from None
    kept = {k: v for k, v in sorted(args.items()) if k not in ("next", "limit")}
    digest = hashlib.sha256(json.dumps([scope, kept]).encode()).hexdigest()[:24]
    query = Query(
        limit=limit,
        added_after=added_after,
        ids=frozenset(values["id"]) if "id" in values else None,
        types=frozenset(values["type"]) if "type" in values else None,
        versions=versions if "version" in allowed else ("all",),
        spec_versions=frozenset(values["spec_version"]) if "spec_version" in values else None,
        digest=digest,
    )
    if "next" in args:
        query = replace(query, after=_read_token(args["next"], digest))
    return query


def select(entries: Iterable[Entry], query: Query) -> list[Entry]:
    """The entries the query's filters keep, ascending by date added (paging not applied)."""
    kept = [
        e
        for e in entries
        if (query.ids is None or e.object_id in query.ids)
        and (query.types is None or e.type in query.types)
        and (query.spec_versions is None or e.spec_version in query.spec_versions)
    ]
    kept = _versions(kept, query.versions)
    if query.added_after is not None:
        kept = [e for e in kept if e.added_us > query.added_after]
    kept.sort(key=lambda e: e.key)
    return kept


def page(selected: Sequence[Entry], query: Query) -> Page:
    """One page of selected entries, after the position of the query's next token."""
    start = 0
    if query.after is not None:
        start = _bisect(selected, query.after)
    chunk = tuple(selected[start : start + query.limit])
    more = start + len(chunk) < len(selected)
    token = _token(chunk[-1].key, query.digest) if more and chunk else None
    return Page(chunk, more, token)


def _versions(entries: list[Entry], wanted: Sequence[str]) -> list[Entry]:
    if "all" in wanted:
        return entries
    by_id: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_id[entry.object_id].append(entry)
    exact = {micros(v) for v in wanted if v not in _VERSION_WORDS}
    chosen: list[Entry] = []
    for versions in by_id.values():
        keep = {e for e in versions if e.version_us in exact}
        if "last" in wanted:
            keep.add(max(versions, key=lambda e: (e.version_us, e.added_us)))
        if "first" in wanted:
            keep.add(min(versions, key=lambda e: (e.version_us, e.added_us)))
        chosen += keep
    return chosen


def _bisect(selected: Sequence[Entry], after: tuple[int, str, int]) -> int:
    low, high = 0, len(selected)
    while low < high:
        middle = (low + high) // 2
        if selected[middle].key <= after:
            low = middle + 1
        else:
            high = middle
    return low


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _token(position: tuple[int, str, int], digest: str) -> str:
    raw = json.dumps([position[0], position[1], position[2], digest], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str, digest: str) -> tuple[int, str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        added, object_id, version, issued_for = json.loads(raw)
        if not (isinstance(added, int) and isinstance(object_id, str) and isinstance(version, int)):
            raise ValueError("not a position")
    except (ValueError, TypeError):
        raise TaxiiError(400, "invalid next", "next is not a token this server issued") from None
    if issued_for != digest:
        raise TaxiiError(400, "invalid next", "next was issued for other filters; use it with the same ones")
    return (added, object_id, version)
