"""YAML to plain data, remembering the line of every value, so errors can name it.

PyYAML's composer keeps a start mark on every node; walking the node tree ourselves (instead
of ``safe_load``) gives the data and a map from field path (``("approvals", 0, "scope")``)
to its 1-based line. Only the plain YAML types are built: no tags, no Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from policies._errors import PolicyError

_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp"))
FieldPath = tuple[str | int, ...]
Lines = dict[FieldPath, int]


def load_yaml(text: str, path: str | Path) -> tuple[Any, Lines]:
    """Parse one YAML document: its data and the line of every field path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise PolicyError(f"not valid YAML: {exc.problem}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", path=path) from exc
    if node is None:
        raise PolicyError("the file is empty", path=path)
    lines: Lines = {}
    data = _build(node, (), lines, path)
    return data, lines


def _build(node: yaml.Node, at: FieldPath, lines: Lines, path: str | Path) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path)
            if not isinstance(key, str):
                raise PolicyError(f"a key must be text, got {key!r}", path=path, line=key_node.start_mark.line + 1)
            if key in result:
                raise PolicyError(f"key {key!r} given twice", path=path, line=key_node.start_mark.line + 1)
            result[key] = _build(value_node, (*at, key), lines, path)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, i), lines, path) for i, item in enumerate(node.value)]
    return _scalar(node, path)


def _scalar(node: yaml.Node, path: str | Path) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise PolicyError("a key must be a plain value", path=path, line=node.start_mark.line + 1)
    if node.tag not in _PLAIN_TAGS:
        raise PolicyError(f"YAML tag {node.tag!r} is not allowed", path=path, line=node.start_mark.line + 1)
    try:
        return yaml.SafeLoader("").construct_object(node)
    except yaml.YAMLError as exc:
        raise PolicyError(f"bad value {node.value!r}: {exc}", path=path, line=node.start_mark.line + 1) from exc


def line_of(lines: Lines, loc: FieldPath) -> int | None:
    """The line of ``loc``, or of its nearest parent that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
