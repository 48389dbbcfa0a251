"""Every STIX object checked with stix2-validator in its default mode, at a usable speed.

``stix2validator.validate_instance`` with default ``ValidationOptions`` decides: an object is
valid when it has no errors (schema errors and MUST checks); warnings (SHOULD checks) are
kept for the record and never refuse an object. The interop mode is not used: it rejects the
official TLP 2.0 marking definitions.

Stock, the validator reads its JSON schema files from disk and builds (and crawls) a new
schema registry for every object it checks, and parses an indicator's pattern twice with the
ANTLR grammar: about 190 objects a second. :func:`prepare` removes work that gives the same
answer every time, and nothing else, by memoizing three pure functions inside stix2-validator
the first time a :class:`StixValidator` is made (never at import):

- ``load_schema(path)``: the parsed schema file, by path;
- ``load_validator(path, schema, schema_dir)``: one validator per schema file, over a registry
  holding every bundled 2.1 schema, crawled once;
- the two pattern parses of the ``patterns`` MUST check (and the one ``stix2`` makes when an
  Indicator is built), by pattern *shape*.

A pattern's shape is its text with every plain string literal replaced by ``'x'``, used only
when each literal holds nothing but letters, digits and ``.:/_-`` (addresses, protocol names)
and the pattern has no ``hashes`` path. Such a literal is one StringLiteral token whatever it
holds, so the token stream, the parse tree and the grammar's verdict are the shape's; the
object and qualifier checks after the parse look at literal values only for hashes; the MUST
check reads only object types and property paths from the inspection. So a shape that parses
without an error stands for every pattern of that shape; a shape with errors is never reused:
the real pattern is parsed, so the messages are its own. Every other pattern is memoized by
its exact text.

Objects of the shapes packaging emits skip jsonschema altogether: exchange._fastcheck gives
the stock verdict for them directly, and hands anything else back to the stock validator.

The checks run, and their verdicts, are unchanged: tests/exchange/test_validate.py compares
verdicts and messages against the stock validator in a fresh process over good and broken
objects and patterns.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exchange._errors import StixInvalid
from exchange._fastcheck import fast_verdict

_LOCK = threading.Lock()
_PREPARED = False
_PATTERN_CACHE = 65_536
# a plain string literal: after a space, bracket, parenthesis, comma or operator, of safe characters
_LITERAL = re.compile(r"(?<=[\s(\[,=<>])'[0-9A-Za-z.:/_-]*'")


@dataclass(frozen=True)
class Verdict:
    """What stix2-validator said of one object."""

    object_id: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.errors


class StixValidator:
    """stix2-validator, default mode (``ValidationOptions()``), prepared once per process."""

    def __init__(self) -> None:
        from stix2validator import ValidationOptions

        from exchange._tlp import MARKING_IDS

        prepare()
        self._options = ValidationOptions()
        self._markings = frozenset(MARKING_IDS.values())

    def verdict(self, obj: dict[str, Any]) -> Verdict:
        """Errors and warnings of one object; an object that is not even a STIX object has one error."""
        from stix2validator import validate_instance
        from stix2validator.errors import SchemaInvalidError, ValidationError

        object_id = str(obj.get("id", "?")) if isinstance(obj, dict) else "?"
        if isinstance(obj, dict):
            warnings = fast_verdict(obj, self._markings)
            if warnings is not None:  # one of our own shapes, valid: the same verdict, without jsonschema
                return Verdict(object_id, (), warnings)
        try:
            result = validate_instance(obj, self._options)
        except (ValidationError, SchemaInvalidError) as exc:
            return Verdict(object_id, (str(exc),), ())
        errors = tuple(str(e) for e in result.errors)
        warnings = tuple(str(w) for w in result.warnings)
        return Verdict(object_id, errors, warnings)

    def check(self, obj: dict[str, Any], *, partner: str | None = None) -> Verdict:
        """The verdict of a valid object; StixInvalid naming it and its errors otherwise."""
        verdict = self.verdict(obj)
        if not verdict.valid:
            raise StixInvalid(verdict.object_id, verdict.errors, partner=partner)
        return verdict

    def check_json(self, text: bytes | str, *, partner: str | None = None) -> Verdict:
        """:meth:`check` of an object given as JSON text (what is sent or received)."""
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise StixInvalid("?", [f"not JSON: {exc}"], partner=partner) from exc
        if not isinstance(obj, dict):
            raise StixInvalid("?", ["not a JSON object"], partner=partner)
        return self.check(obj, partner=partner)


def prepare() -> None:
    """Memoize stix2-validator's pure loaders and pattern parses (idempotent, thread-safe)."""
    global _PREPARED
    with _LOCK:
        if _PREPARED:
            return
        import stix2.v21.sdo
        import stix2validator.validator as core
        from stix2validator.v21 import musts

        core.load_schema = functools.lru_cache(maxsize=None)(core.load_schema)
        core.load_validator = _validator_cache(core)
        errors = _pattern_errors(musts.pattern_validator)
        musts.pattern_validator = errors
        stix2.v21.sdo.run_validator = errors  # the same grammar check stix2 makes when an Indicator is built
        musts.Pattern = _inspected(musts.Pattern)
        _PREPARED = True


def shape(pattern: str) -> str | None:
    """The pattern with its plain string literals as ``'x'``; None when a literal is not plain or hashes appear."""
    if "hashes" in pattern or "\\" in pattern:
        return None
    replaced, count = _LITERAL.subn("'x'", pattern)
    if replaced.count("'") != 2 * count:  # some literal was not plain: no shape
        return None
    return replaced


def _validator_cache(core: Any) -> Callable[[str, Any, str | None], Any]:
    """``load_validator`` returning one validator per schema, over a registry crawled once."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    folder = pathlib.Path(core.__file__).parent / "schemas-2.1" / "schemas"
    bundled = folder.resolve()
    resources = []
    for path in sorted(folder.rglob("*.json")):
        if "examples" in path.parts:
            continue
        schema = core.patch_schema(json.loads(path.read_text(encoding="utf-8")), str(path))
        resources.append((path.as_uri(), DRAFT202012.create_resource(schema)))
    retrieve = functools.partial(core.retrieve_from_filesystem, schema_dir=None)
    base = Registry(retrieve=retrieve).with_resources(resources).crawl()  # type: ignore[call-arg]
    made: dict[tuple[str, str | None], Any] = {}
    lock = threading.Lock()

    def load_validator(schema_path: str, schema: Any, schema_dir: str | None) -> Any:
        key = (schema_path, schema_dir)
        with lock:
            validator = made.get(key)
            if validator is None:
                # the same schema object the stock function would use: patched once, by path
                patched = core._PATCHED_SCHEMAS.get(schema_path)
                if patched is None:
                    patched = core.patch_schema(schema, schema_path)
                    core._PATCHED_SCHEMAS[schema_path] = patched
                if schema_dir is None or pathlib.Path(schema_dir).resolve() == bundled:
                    registry = base
                else:  # a user's schema folder: as stock, resolved on demand
                    registry = Registry(  # type: ignore[call-arg]
                        retrieve=functools.partial(core.retrieve_from_filesystem, schema_dir=schema_dir)
                    )
                registry = registry.with_resource(schema_path, DRAFT202012.create_resource(patched)).crawl()
                validator = core.STIXValidator(
                    patched, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
                )
                made[key] = validator
            return validator

    return load_validator


def _pattern_errors(run_validator: Callable[..., Sequence[str]]) -> Callable[..., list[str]]:
    @functools.lru_cache(maxsize=_PATTERN_CACHE)
    def cached(pattern: str, version: str) -> tuple[str, ...]:
        return tuple(str(e) for e in run_validator(pattern, version))

    def pattern_validator(pattern: str, stix_version: str = "2.1") -> list[str]:
        form = shape(pattern) if isinstance(pattern, str) else None
        if form is not None and not cached(form, stix_version):
            return []  # a shape without errors stands for every pattern of that shape
        return list(cached(pattern, stix_version))

    return pattern_validator


class _Inspected:
    """A parsed pattern's inspection, computed once per pattern text."""

    __slots__ = ("_inspection",)

    def __init__(self, inspection: Any) -> None:
        self._inspection = inspection

    def inspect(self) -> Any:
        return self._inspection


def _inspected(pattern_class: Callable[[str], Any]) -> Callable[[str], _Inspected]:
    """Pattern(text).inspect(), once per shape: the MUST check reads its types and paths, never its values."""

    @functools.lru_cache(maxsize=_PATTERN_CACHE)
    def parsed(pattern: str) -> _Inspected:
        return _Inspected(pattern_class(pattern).inspect())

    def inspected(pattern: str) -> _Inspected:
        form = shape(pattern)
        return parsed(form if form is not None else pattern)

    return inspected
