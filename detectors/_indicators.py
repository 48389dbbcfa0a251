"""The partner's STIX 2.1 indicators, read from a file and compiled into address matchers.

A file holds a bundle, a JSON list of objects, or JSON lines (one object a line). Every
``indicator`` object is checked with ``stix2`` and its pattern parsed with the STIX pattern
grammar; other object types are passed over. What can be matched against flow metadata:

- ``ipv4-addr:value`` / ``ipv6-addr:value`` with ``=``, ``IN`` or ``ISSUBSET``: an address or
  a prefix, on either side of a flow;
- ``network-traffic:src_ref.value`` / ``dst_ref.value``: the same, on the originator's or the
  responder's side; ``network-traffic:src_port`` / ``dst_port`` and ``protocols[*]`` narrow
  it; ``AND`` and ``OR`` inside an observation, ``OR`` between observations.

An indicator is used for the alternatives (``OR`` branches) that name an address; an
alternative with anything else (a domain name, a hash, a negation, a qualifier such as
``WITHIN``, observations joined by ``AND`` or ``FOLLOWEDBY``) cannot be decided from one
flow's metadata and is left out, and an indicator with nothing left is skipped. Skipped
objects are reported (``IndicatorSet.problems``), each naming the file and object, and the
rest of the feed is used. Revoked indicators, and other pattern languages, are skipped too.

Matching looks only at the outside side of a flow (traffic_class): the domestic side is a
pseudonym, and a pseudonym that happens to equal an indicated address says nothing.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from detectors._config import PROTOCOLS
from detectors._errors import IndicatorError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_ALTERNATIVES = 256


class Side(StrEnum):
    ANY = "any"
    ORIG = "orig"
    RESP = "resp"


@dataclass(frozen=True)
class Alternative:
    """One way an indicator matches a flow: every constraint holds (a conjunction)."""

    side: Side
    networks: tuple[Network, ...]  # the flow's address on ``side`` lies in one of them
    more_addresses: tuple[tuple[Side, tuple[Network, ...]], ...] = ()
    orig_ports: frozenset[int] | None = None
    resp_ports: frozenset[int] | None = None
    protocols: frozenset[int] | None = None


@dataclass(frozen=True)
class Indicator:
    """One partner indicator, ready to match."""

    id: str
    name: str | None
    pattern: str
    confidence: int | None
    technique: str | None
    valid_from_us: int
    valid_until_us: int | None
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class IndicatorSet:
    """The usable indicators of a feed, and what was skipped (and why)."""

    indicators: tuple[Indicator, ...]
    problems: tuple[IndicatorError, ...] = ()
    source: str | None = None

    def __len__(self) -> int:
        return len(self.indicators)

    @classmethod
    def from_objects(cls, objects: list[dict[str, Any]], source: str | Path | None = None) -> IndicatorSet:
        import stix2  # the STIX library is needed only when a feed is given
        import stix2.exceptions

        indicators: list[Indicator] = []
        problems: list[IndicatorError] = []
        for obj in objects:
            if not isinstance(obj, dict) or obj.get("type") != "indicator":
                continue
            object_id = str(obj.get("id", "?"))
            try:
                parsed = stix2.parse(obj, allow_custom=True)
                indicators.append(_compile(parsed, object_id))
            except IndicatorError as exc:
                problems.append(IndicatorError(exc.reason, path=source, object_id=object_id))
            except (stix2.exceptions.STIXError, ValueError, TypeError, KeyError) as exc:
                reason = f"not a valid STIX 2.1 indicator: {exc}"
                problems.append(IndicatorError(reason, path=source, object_id=object_id))
        return cls(tuple(indicators), tuple(problems), str(source) if source is not None else None)


def load_indicators(path: str | Path) -> IndicatorSet:
    """The indicators in a file (bundle, JSON list or JSON lines); IndicatorError if it cannot be read at all."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IndicatorError(f"cannot read the indicators: {exc}", path=path) from exc
    return IndicatorSet.from_objects(_objects(text, path), source=path)


def _objects(text: str, path: Path) -> list[dict[str, Any]]:
    stripped = text.strip()
    if not stripped:
        return []
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        data = None
        objects = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IndicatorError(f"line {number}: not JSON: {exc.msg}", path=path) from exc
        return objects
    if isinstance(data, dict) and data.get("type") == "bundle":
        found = data.get("objects", [])
        if not isinstance(found, list):
            raise IndicatorError("the bundle's objects are not a list", path=path)
        return found
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise IndicatorError("neither a STIX bundle nor a list of STIX objects", path=path)


def _micros(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def _technique(indicator: Any) -> str | None:
    for ref in indicator.get("external_references", []) or []:
        if ref.get("source_name") == "mitre-attack" and str(ref.get("external_id", "")).startswith("T"):
            return str(ref["external_id"])
    return None


def _compile(indicator: Any, object_id: str) -> Indicator:
    from stix2.pattern_visitor import create_pattern_object

    if indicator.get("revoked"):
        raise IndicatorError("revoked")
    if indicator.get("pattern_type") != "stix":
        raise IndicatorError(f"pattern type {indicator.get('pattern_type')!r}: only STIX patterns are matched")
    pattern = str(indicator["pattern"])
    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception as exc:  # the pattern grammar raises bare exceptions of several kinds
        raise IndicatorError(f"pattern does not parse: {exc}") from exc
    alternatives, skipped = _observations(tree)
    if not alternatives:
        raise IndicatorError(f"nothing in the pattern can be matched against flow metadata ({'; '.join(skipped)})")
    valid_until = indicator.get("valid_until")
    return Indicator(
        id=object_id,
        name=indicator.get("name"),
        pattern=pattern,
        confidence=indicator.get("confidence"),
        technique=_technique(indicator),
        valid_from_us=_micros(indicator["valid_from"]),
        valid_until_us=_micros(valid_until) if valid_until is not None else None,
        alternatives=tuple(alternatives),
    )


class _Unsupported(Exception):
    pass


def _observations(node: Any) -> tuple[list[Alternative], list[str]]:
    """Alternatives of an observation expression; the reasons of the branches left out."""
    name = type(node).__name__
    if name == "ParentheticalExpression":
        return _observations(node.expression)
    if name == "OrObservationExpression":
        alternatives: list[Alternative] = []
        skipped: list[str] = []
        for operand in node.operands:
            more, why = _observations(operand)
            alternatives += more
            skipped += why
        return alternatives[:_MAX_ALTERNATIVES], skipped
    if name == "ObservationExpression":
        try:
            return [_alternative(c) for c in _conjunctions(node.operand)], []
        except _Unsupported as exc:
            return [], [str(exc)]
    if name == "QualifiedObservationExpression":
        return [], ["qualified observations (WITHIN, REPEATS, START/STOP) need more than one flow"]
    return [], [f"{name} joins observations that one flow cannot show"]


def _conjunctions(node: Any) -> list[list[Any]]:
    """A boolean expression as OR of ANDs of comparisons."""
    name = type(node).__name__
    if name == "ParentheticalExpression":
        return _conjunctions(node.expression)
    if name == "OrBooleanExpression":
        return [c for operand in node.operands for c in _conjunctions(operand)][:_MAX_ALTERNATIVES]
    if name == "AndBooleanExpression":
        result: list[list[Any]] = [[]]
        for operand in node.operands:
            result = [a + b for a in result for b in _conjunctions(operand)][:_MAX_ALTERNATIVES]
        return result
    return [[node]]


def _values(node: Any) -> list[Any]:
    """The constant(s) on a comparison's right-hand side."""
    if type(node.rhs).__name__ == "ListConstant":
        return [c.value for c in node.rhs.value]
    return [node.rhs.value]


def _networks(node: Any) -> tuple[Network, ...]:
    values = _values(node)
    try:
        return tuple(ipaddress.ip_network(str(v), strict=False) for v in values)
    except ValueError as exc:
        raise _Unsupported(f"not an address: {exc}") from exc


def _integers(node: Any) -> frozenset[int]:
    values = _values(node)
    if not all(isinstance(v, int) for v in values):
        raise _Unsupported("ports must be integers")
    return frozenset(int(v) for v in values)


def _alternative(comparisons: list[Any]) -> Alternative:
    addresses: list[tuple[Side, tuple[Network, ...]]] = []
    ports: dict[str, frozenset[int]] = {}
    protocols: frozenset[int] | None = None
    for node in comparisons:
        kind = type(node).__name__
        if kind not in ("EqualityComparisonExpression", "InComparisonExpression", "IsSubsetComparisonExpression"):
            raise _Unsupported(f"the {getattr(node, 'operator', kind)} operator")
        if node.negated:
            raise _Unsupported("negated comparisons")
        path = node.lhs
        components = [getattr(c, "property_name", "?") for c in path.property_path]
        where = f"{path.object_type_name}:{'.'.join(components)}"
        if where in ("ipv4-addr:value", "ipv6-addr:value"):
            addresses.append((Side.ANY, _networks(node)))
        elif where in ("network-traffic:src_ref.value", "network-traffic:dst_ref.value"):
            addresses.append((Side.ORIG if components[0] == "src_ref" else Side.RESP, _networks(node)))
        elif where in ("network-traffic:src_port", "network-traffic:dst_port"):
            ports[components[0]] = _integers(node)
        elif where == "network-traffic:protocols":
            names = {str(v).lower() for v in _values(node)}
            if not names <= set(PROTOCOLS):
                raise _Unsupported(f"protocols {sorted(names - set(PROTOCOLS))}")
            protocols = frozenset(PROTOCOLS[n] for n in names)
        else:
            raise _Unsupported(f"{where} is not flow metadata")
    if not addresses:
        raise _Unsupported("no address to match")
    (side, networks), *more = addresses
    return Alternative(
        side=side,
        networks=networks,
        more_addresses=tuple(more),
        orig_ports=ports.get("src_port"),
        resp_ports=ports.get("dst_port"),
        protocols=protocols,
    )
