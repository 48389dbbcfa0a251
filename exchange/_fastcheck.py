"""stix2-validator's verdict, computed directly, for the object shapes packaging emits.

The stock validator spends about a millisecond an object in jsonschema and dateutil. The
objects packaging makes are few in shape: an Identity, an Indicator, a Sighting, each with a
known set of properties of known forms. :func:`fast_verdict` checks exactly those forms,
strictly (each property from a closed list, each value of the one form we write), and for an
object that passes returns what default-mode stix2-validator returns: valid, with the
warnings its SHOULD checks give such an object (UUIDv5 ids, an external reference with a URL
and no hash, custom properties), worded by stix2-validator's own error classes.

Anything else, from an unexpected property to one timestamp out of order, returns None and
the stock validator decides, so every refusal and its messages are the stock ones. A fast
verdict is therefore only ever "valid", and only where stock says "valid" with the same
warnings: tests/exchange/test_validate.py holds it to the stock validator, in a fresh process,
over packaged objects and over each of them broken in one way after another.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_IDS = {kind: re.compile(rf"^{kind}--{_UUID}$") for kind in ("identity", "indicator", "sighting")}
# the forms encode() writes: created/modified to the millisecond or microsecond, others trimmed
_MILLIS_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3}|\d{6})Z$")
_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z$")
_VOCAB_WORD = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~-]+)*/?$")
_ATTACK_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_MAX_COUNT = 999_999_999
_COMMON = frozenset(
    {"type", "spec_version", "id", "created", "modified", "created_by_ref", "revoked", "confidence",
     "external_references", "object_marking_refs"}
)
_CUSTOM = ("x_metagate_inside_parties_total", "x_metagate_inside_parties")


class _Unsure(Exception):
    """The object is not of a shape this module vouches for: the stock validator decides."""


def fast_verdict(obj: dict[str, Any], markings: frozenset[str]) -> tuple[str, ...] | None:
    """The warnings of a valid object of one of our shapes; None when the stock validator must decide.

    ``markings`` are the marking-definition ids an object may reference (the TLP 2.0 ones).
    """
    try:
        check = _CHECKS.get(obj.get("type"))  # type: ignore[arg-type]
        if check is None:
            return None
        _common(obj, markings)
        check(obj)
        return _warnings(obj)
    except _Unsure:
        return None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None  # a value of a type nobody expected: not ours to judge


def _common(obj: dict[str, Any], markings: frozenset[str]) -> None:
    kind = obj["type"]
    _require(obj.get("spec_version") == "2.1")
    _require(_IDS[kind].match(obj["id"]) is not None)
    created, modified = _stamp(obj["created"], millis=True), _stamp(obj["modified"], millis=True)
    _require(modified >= created)
    if "created_by_ref" in obj:
        _require(_is_id(obj["created_by_ref"], "identity"))
    if "revoked" in obj:
        _require(obj["revoked"] is True or obj["revoked"] is False)
    if "confidence" in obj:
        _require(_is_int(obj["confidence"], 0, 100))
    if "external_references" in obj:
        refs = obj["external_references"]
        _require(isinstance(refs, list) and len(refs) > 0)
        for ref in refs:
            _require(isinstance(ref, dict) and set(ref) == {"source_name", "url", "external_id"})
            _require(ref["source_name"] == "mitre-attack")
            _require(isinstance(ref["url"], str) and _URL.match(ref["url"]) is not None)
            _require(isinstance(ref["external_id"], str) and _ATTACK_ID.match(ref["external_id"]) is not None)
    if "object_marking_refs" in obj:
        refs = obj["object_marking_refs"]
        _require(isinstance(refs, list) and len(refs) > 0 and len(set(refs)) == len(refs))
        _require(all(isinstance(r, str) and r in markings for r in refs))


def _indicator(obj: dict[str, Any]) -> None:
    from stix2validator.v21 import enums

    _only(obj, {"name", "description", "indicator_types", "pattern", "pattern_type", "pattern_version",
                "valid_from", "valid_until", "kill_chain_phases"})
    _require(_text(obj["name"]) and _text(obj["description"]))  # both SHOULD be there: else a warning
    types = obj.get("indicator_types", [])
    _require(isinstance(types, list) and len(set(types)) == len(types))
    _require(all(t in enums.INDICATOR_TYPE_OV for t in types) and ("indicator_types" not in obj or types))
    _require(obj["pattern_type"] == "stix" and obj.get("pattern_version", "2.1") == "2.1")
    pattern = obj["pattern"]
    _require(_text(pattern))
    _require(_pattern_fine(pattern))
    valid_from = _stamp(obj["valid_from"])
    if "valid_until" in obj:
        _require(_stamp(obj["valid_until"]) > valid_from)
    if "kill_chain_phases" in obj:
        phases = obj["kill_chain_phases"]
        _require(isinstance(phases, list) and len(phases) > 0)
        for phase in phases:
            _require(isinstance(phase, dict) and set(phase) == {"kill_chain_name", "phase_name"})
            _require(all(isinstance(v, str) and _VOCAB_WORD.match(v) for v in phase.values()))


def _sighting(obj: dict[str, Any]) -> None:
    _only(obj, {"first_seen", "last_seen", "count", "sighting_of_ref", "where_sighted_refs", *_CUSTOM})
    _require(_is_id(obj["sighting_of_ref"], "indicator"))
    if "first_seen" in obj or "last_seen" in obj:
        _require(_stamp(obj["last_seen"]) >= _stamp(obj["first_seen"]))
    if "count" in obj:
        _require(_is_int(obj["count"], 0, _MAX_COUNT))
    if "where_sighted_refs" in obj:
        refs = obj["where_sighted_refs"]
        _require(isinstance(refs, list) and len(refs) > 0 and all(_is_id(r, "identity") for r in refs))
    if "x_metagate_inside_parties_total" in obj:
        _require(_is_int(obj["x_metagate_inside_parties_total"], 0, 2**53))
    if "x_metagate_inside_parties" in obj:
        parties = obj["x_metagate_inside_parties"]
        _require(isinstance(parties, list) and all(_text(p) for p in parties))


def _identity(obj: dict[str, Any]) -> None:
    from stix2validator.v21 import enums

    _only(obj, {"name", "identity_class", "sectors", "contact_information"})
    _require(_text(obj["name"]))
    _require(obj["identity_class"] in enums.IDENTITY_CLASS_OV)
    if "sectors" in obj:
        sectors = obj["sectors"]
        _require(isinstance(sectors, list) and len(sectors) > 0 and len(set(sectors)) == len(sectors))
        _require(all(s in enums.INDUSTRY_SECTOR_OV for s in sectors))
    if "contact_information" in obj:
        _require(_text(obj["contact_information"]))


_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "identity": _identity,
    "indicator": _indicator,
    "sighting": _sighting,
}


def _warnings(obj: dict[str, Any]) -> tuple[str, ...]:
    """What the default SHOULD checks say of a valid object of our shapes, in their order and words."""
    said: list[str] = []
    if obj["id"][-36:][14] != "4":  # uuid-check: SDOs SHOULD have UUIDv4 ids
        said.append(_worded("uuid-check", "Given ID value {id} is not a valid UUIDv4 ID."))
    if obj.get("external_references"):  # extref-hashes: the first reference with a URL and no hash
        source = obj["external_references"][0]["source_name"]
        said.append(_worded("extref-hashes", f"External reference '{source}' has a URL but no hash."))
    for name in obj:
        if name in _CUSTOM:  # extensions-use: a custom property outside an extension
            said.append(
                _worded(
                    "extensions-use",
                    f"Custom property '{name}' should be implemented using an extension with an "
                    "'extension_type' of 'property-extension' or 'toplevel-property-extension'.",
                )
            )
    return tuple(text.replace(_ID, obj["id"]) for text in said)


_ID = "\x00id\x00"  # stands for the object's id in a worded warning


@functools.lru_cache(maxsize=64)
def _worded(check: str, message: str) -> str:
    """A warning as stix2-validator words it (its error class and pretty printer), the id left as _ID."""
    from stix2validator.errors import pretty_error
    from stix2validator.v21.errors import JSONError

    return str(pretty_error(JSONError(message.replace("{id}", _ID), _ID, check), False))


def _pattern_fine(pattern: str) -> bool:
    """The pattern MUST check is silent: the grammar, and every object type and property standard."""
    from exchange._validate import shape

    form = shape(pattern)
    return _shape_fine(form) if form is not None else _judged(pattern)


@functools.lru_cache(maxsize=1024)
def _shape_fine(form: str) -> bool:
    """:func:`_judged` of a shape, which stands for every pattern of that shape (see exchange._validate)."""
    return _judged(form)


def _judged(pattern: str) -> bool:
    from stix2validator.v21 import musts

    return not musts.pattern_validator(pattern, "2.1") and _pattern_paths_known(pattern)


def _pattern_paths_known(pattern: str) -> bool:
    """Every object type and property the pattern compares is a standard one (so the MUST check is silent)."""
    from stix2validator.v21 import enums, musts

    comparisons = musts.Pattern(pattern).inspect().comparisons
    for kind, expressions in comparisons.items():
        props = enums.OBSERVABLE_PROPERTIES.get(kind)
        if kind not in enums.OBSERVABLE_TYPES or props is None:
            return False
        if any(expression[0][0] not in props for expression in expressions):
            return False
    return True


def _stamp(text: Any, *, millis: bool = False) -> datetime:
    _require(isinstance(text, str) and text.isascii())  # \d also takes other scripts' digits
    _require((_MILLIS_STAMP if millis else _STAMP).match(text) is not None)
    # of this form, fromisoformat reads the fraction as the digits given (".1" is 100 ms) and
    # raises ValueError for Feb 30 and for second 60 (a leap second: the stock validator judges it)
    return datetime.fromisoformat(text[:-1])


def _only(obj: dict[str, Any], allowed: set[str]) -> None:
    _require(obj.keys() <= (_COMMON | allowed))


def _is_id(value: Any, kind: str) -> bool:
    return isinstance(value, str) and _IDS[kind].match(value) is not None


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 0


def _require(condition: bool) -> None:
    if not condition:
        raise _Unsure
