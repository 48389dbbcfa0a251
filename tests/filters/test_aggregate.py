"""Aggregates: counts by prefix, port and class, with every cell under k left out."""

from __future__ import annotations

import pytest

from filters import aggregate
from policies import ConfigError
from tests.flowtables import flow, table


def _records() -> list[dict[str, object]]:
    rows = [flow("198.51.100.7", f"192.0.2.{i}", resp_port=443) for i in range(12)]  # 12 flows to one /24
    rows += [flow("198.51.100.7", "203.0.113.9", resp_port=22) for _ in range(3)]  # 3: a small cell
    rows += [flow("2001:db8:f::1", f"2001:db8:a:1::{i:x}", proto=17, resp_port=53) for i in range(10)]
    return rows


def test_small_cells_are_left_out_and_only_counted() -> None:
    result = aggregate(table(_records()), ["resp_prefix", "resp_port"], k=10)
    cells = result.cells.to_pylist()
    assert [(c["resp_prefix"], c["resp_port"], c["flows"]) for c in cells] == [
        ("192.0.2.0/24", 443, 12),
        ("2001:db8:a::/48", 53, 10),
    ]
    assert cells[0]["packets"] == 12 * 5 and cells[0]["bytes"] == 12 * 500
    assert result.suppressed_cells == 1 and result.k == 10
    assert "203.0.113" not in str(cells)


def test_by_plain_columns_and_bad_arguments() -> None:
    result = aggregate(table(_records()), ["proto"], k=10)
    assert {c["proto"]: c["flows"] for c in result.cells.to_pylist()} == {6: 15, 17: 10}
    with pytest.raises(ConfigError):
        aggregate(table(_records()), ["nowhere"])
    with pytest.raises(ConfigError):
        aggregate(table(_records()), ["proto"], k=1)
