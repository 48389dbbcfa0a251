"""Timestamps formatted by numpy arithmetic are Arrow's strftime text, byte for byte."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from collectors._jsonl import encode_jsonl
from collectors._jsontime import formattable, iso_texts

_TS = pa.timestamp("us", tz="UTC")
_FIRST, _END = -62_167_219_200_000_000, 253_402_300_800_000_000  # 0000-01-01 and 10000-01-01


def _reference(column: pa.Array) -> list[str | None]:
    return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()


def test_every_year_and_the_edges() -> None:
    rng = np.random.default_rng(7)
    edges = [0, -1, 1, _FIRST, _END - 1, 951_782_400_000_000, 951_868_800_000_000, 4_107_542_399_999_999]
    values = np.concatenate([rng.integers(_FIRST, _END, 50_000), edges])
    column = pa.array(values, _TS)
    assert formattable(column)
    assert [bytes(row).decode() for row in iso_texts(column)] == _reference(column)


def test_out_of_range_or_other_units_are_not_claimed() -> None:
    assert not formattable(pa.array([_END], _TS))
    assert not formattable(pa.array([_FIRST - 1], _TS))
    assert not formattable(pa.array([0], pa.timestamp("ns", tz="UTC")))
    assert not formattable(pa.array([0], pa.timestamp("us")))


@pytest.mark.parametrize("values", [[0, None, 1_700_000_000_123_456], [None, None], [_END, 0, None]])
def test_jsonl_lines_match_the_strftime_text(values: list[int | None]) -> None:
    table = pa.table({"start": pa.array(values * 3, _TS)}).slice(1)  # an offset, as batches have
    lines = encode_jsonl(table).decode().splitlines()
    texts = _reference(table.column(0).combine_chunks())
    expected = ['{"start":' + ("null" if t is None else f'"{t}"') + "}" for t in texts]
    assert lines == expected
