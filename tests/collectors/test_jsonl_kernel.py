"""The JSON-lines kernel writes what json.dumps writes, and what the Arrow path writes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import FLOW_SCHEMA
from collectors._jsonl import encode_jsonl
from collectors._jsonl_arrow import encode_in_arrow
from collectors._jsonpack import pack

_TS = pa.timestamp("us", tz="UTC")


def _dumps(table: pa.Table) -> bytes:
    """The reference: json.dumps per row (timestamps as the ISO text Arrow gives)."""
    lines = []
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for r in range(table.num_rows):
        row = {}
        for name, values in columns.items():
            value = values[r]
            if hasattr(value, "strftime"):  # the year always in four digits, which %Y is not everywhere
                value = f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S.%fZ")
            row[name] = value
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(lines).encode()


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), st.integers(0, 2**64 - 1)),
            st.one_of(st.none(), st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999)),
            st.one_of(st.none(), texts),
            st.one_of(st.none(), st.lists(st.integers(0, 2**32 - 1), max_size=4)),
            st.one_of(st.none(), st.lists(texts, max_size=3)),
        ),
        min_size=1,
        max_size=30,
    ),
    cut=st.integers(0, 5),
)
def test_kernel_matches_json_dumps(rows: list[tuple[object, ...]], cut: int) -> None:
    names = ["signed", 'un"signed', "time", "text", "labels", "parents"]
    types = [pa.int64(), pa.uint64(), _TS, pa.string(), pa.list_(pa.uint32()), pa.list_(pa.string())]
    columns = [pa.array([row[k] for row in rows], types[k]) for k in range(len(names))]
    table = pa.table([*columns, pa.nulls(len(rows))], names=[*names, "nothing"]).slice(min(cut, len(rows) - 1))
    expected = _dumps(table)
    if all(v is None or v < 2**63 for v in table.column(1).to_pylist()):
        assert pack(table.combine_chunks()) is not None  # the kernel's path, not the fallback
    assert encode_jsonl(table) == expected
    assert encode_in_arrow(table) == expected


@pytest.mark.parametrize("text", ['"', "\\", "\n\r\t\b\f", "\x00\x01\x1f\x7f", "日本語 ü", "a\u2028b"])
def test_escapes(text: str) -> None:
    table = pa.table({"s": [text, None], "l": [[text, "x"], []]})
    assert encode_jsonl(table) == _dumps(table)


def test_a_flow_table_takes_the_kernel_path_and_both_paths_agree(tmp_path: object) -> None:
    rng = np.random.default_rng(3)
    n = 500
    table = FLOW_SCHEMA.empty_table()
    columns = {}
    for field in FLOW_SCHEMA:
        kind = field.type
        if pa.types.is_timestamp(kind):
            columns[field.name] = pa.array(rng.integers(1_600_000_000_000_000, 1_800_000_000_000_000, n), kind)
        elif pa.types.is_integer(kind):
            columns[field.name] = pa.array(rng.integers(0, 200, n), kind)
        elif pa.types.is_list(kind) and pa.types.is_integer(kind.value_type):
            columns[field.name] = pa.array([[int(v)] * (k % 3) for k, v in enumerate(rng.integers(0, 9, n))], kind)
        elif pa.types.is_list(kind):
            columns[field.name] = pa.array([["1:abc="] * (k % 3) for k in range(n)], kind)
        else:
            columns[field.name] = pa.array([None if k % 7 == 0 else f"v{k}" for k in range(n)], kind)
    table = pa.table(columns, schema=FLOW_SCHEMA)
    assert pack(table) is not None
    assert encode_jsonl(table) == encode_in_arrow(table) == _dumps(table)


def test_other_types_are_not_packed() -> None:
    assert pack(pa.table({"f": [1.5, None]})) is None
    assert pack(pa.table({"b": [True, False]})) is None
    table = pa.table({"s": pa.array(['a"b', None], pa.large_string())})
    assert pack(table) is None
    assert encode_jsonl(table) == _dumps(table)


def test_uint64_past_int64_falls_back() -> None:
    table = pa.table({"u": pa.array([2**64 - 1, 0], pa.uint64())})
    assert pack(table) is None
    assert encode_jsonl(table) == b'{"u":18446744073709551615}\n{"u":0}\n'
