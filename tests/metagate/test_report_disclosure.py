"""The report's suppression rule: no count under k printed, none recoverable from a printed sum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagate._disclosure import Disclosure, Shown
from metagate._transparency import parse_period
from policies import ConfigError


def _sum(d: Disclosure, total: str, parts: dict[str, int]) -> None:
    for name, value in parts.items():
        d.count(name, value)
    d.count(total, sum(parts.values()))
    d.relate(total, parts)


def test_a_lone_small_count_takes_a_large_one_with_it() -> None:
    d = Disclosure(10)
    _sum(d, "total", {"a": 3, "b": 12, "c": 40, "d": 0})
    # 12 would leave a in 1..(3 + 12 - 10): 40 is the smallest of at least 2k - 2 = 18
    assert [d.figure(n) for n in ("a", "b", "c", "d", "total")] == ["<10", 12, "withheld", 0, 55]


def test_the_withheld_count_leaves_the_small_one_its_whole_range() -> None:
    d = Disclosure(10)
    _sum(d, "total", {"a": 3, "b": 12, "c": 18, "e": 400})
    assert d.hidden() == ["a", "c"]  # 18 = 2k - 2: a + c = 21 leaves a anywhere in 1..9


def test_small_counts_beside_a_printed_total_take_a_large_one_too() -> None:
    d = Disclosure(10)
    _sum(d, "total", {"a": 9, "b": 9, "c": 255})
    assert d.figure("c") == "withheld" and d.figure("total") == 273  # else 273 - 255 = 18 makes both 9


def test_a_hidden_total_with_hidden_parts_needs_nothing_more() -> None:
    d = Disclosure(10)
    _sum(d, "total", {"a": 4, "b": 3})
    assert [d.figure(n) for n in ("a", "b", "total")] == ["<10", "<10", "<10"]


def test_acts_are_printed_and_never_withheld() -> None:
    d = Disclosure(10)
    d.count("runs", 3, act=True)
    _sum(d, "flows", {"x": 5, "y": 50})
    assert d.figure("runs") == 3 and d.figure("y") == "withheld" and d.figure("flows") == 55


def test_chained_sums_settle() -> None:
    d = Disclosure(10)
    _sum(d, "dropped", {"never": 12, "no_approval": 3})
    _sum(d, "kept", {"key1": 240, "key2": 18})
    d.count("collected", 273)
    d.relate("collected", ["kept", "dropped"])
    assert d.figure("collected") == 273 and d.figure("kept") == 258 and d.figure("dropped") == 15
    assert d.figure("never") == "withheld" and d.figure("no_approval") == "<10"


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ConfigError, match="k must be at least 2"):
        Disclosure(1)
    d = Disclosure(10)
    d.count("a", 1)
    d.count("t", 5)
    with pytest.raises(ValueError, match="not the sum"):
        d.relate("t", ["a"])
    with pytest.raises(ValueError, match="declared twice"):
        d.count("a", 2)


tables = st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=6), min_size=1, max_size=5)


@given(tables, st.integers(2, 20))
def test_no_printed_sum_gives_a_small_count_away(rows: list[list[int]], k: int) -> None:
    """A table with row totals, column totals and a grand total: the rule holds for every sum."""
    d = Disclosure(k)
    width = max(len(r) for r in rows)
    cells = [[*r, *[0] * (width - len(r))] for r in rows]
    for i, row in enumerate(cells):
        for j, value in enumerate(row):
            d.count(f"c{i}.{j}", value)
        d.count(f"row{i}", sum(row))
        d.relate(f"row{i}", [f"c{i}.{j}" for j in range(width)])
    for j in range(width):
        d.count(f"col{j}", sum(row[j] for row in cells))
        d.relate(f"col{j}", [f"c{i}.{j}" for i in range(len(cells))])
    d.count("all", sum(map(sum, cells)))
    d.relate("all", [f"row{i}" for i in range(len(cells))])
    d.relate("all", [f"col{j}" for j in range(width)])
    state = d.state()
    for name, value in d.values.items():
        printed = d.figure(name)
        assert printed == value if state[name] is Shown.EXACT else isinstance(printed, str)
        assert not (isinstance(printed, int) and 0 < printed < k)
    for total, parts in d.relations:
        hidden = [m for m in (total, *parts) if state[m] is not Shown.EXACT]
        assert len(hidden) != 1
        if hidden and state[total] is Shown.EXACT:
            assert any(state[m] is Shown.WITHHELD for m in hidden)


def test_periods_are_whole_utc_days() -> None:
    period = parse_period("2026-11-01", "2026-11-30")
    assert period.start.isoformat() == "2026-11-01T00:00:00+00:00"
    assert period.end.isoformat() == "2026-12-01T00:00:00+00:00"  # the last day is included
    assert parse_period("2026-11-05", "2026-11-05").first == parse_period("2026-11-05", "2026-11-05").last
    for first, last, field in (("2026-02-30", "2026-03-01", "--from"), ("2026-03-01", "03/02/2026", "--to"),
                               ("2026-03-02", "2026-03-01", "--to")):  # fmt: skip
        with pytest.raises(ConfigError) as caught:
            parse_period(first, last)
        assert caught.value.field == field
