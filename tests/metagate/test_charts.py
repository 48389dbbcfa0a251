"""The inline SVG charts: well-formed, every value drawn and labelled, labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from metagate._charts import PALETTE, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bar_chart_draws_each_count_largest_first_and_escapes_labels() -> None:
    svg = bar_chart({"scope:<d2d>": 7, "allow": 30, "no approval": 0}, title="drops & passes")
    root = ET.fromstring(svg)
    bars = root.findall(f"{SVG}rect")
    assert [b.find(f"{SVG}title").text for b in bars] == ["allow: 30", "scope:<d2d>: 7", "no approval: 0"]  # type: ignore[union-attr]
    widths = [int(b.get("width", "0")) for b in bars]
    assert widths[0] > widths[1] > widths[2] == 0
    assert root.get("aria-label") == "drops & passes"


def test_line_chart_fills_missing_days_with_zero_and_keeps_the_peak_on_top() -> None:
    svg = line_chart({"shared": [("2026-11-01", 4), ("2026-11-03", 8)], "received": [("2026-11-02", 2)]}, title="t")
    root = ET.fromstring(svg)
    dots = [c.find(f"{SVG}title").text for c in root.findall(f"{SVG}circle")]  # type: ignore[union-attr]
    assert dots == [
        "shared 2026-11-01: 4", "shared 2026-11-02: 0", "shared 2026-11-03: 8",
        "received 2026-11-01: 0", "received 2026-11-02: 2", "received 2026-11-03: 0",
    ]
    ys = [float(c.get("cy", "0")) for c in root.findall(f"{SVG}circle")]
    assert min(ys) == ys[2]  # the 8 is the highest point


def test_empty_charts_say_so() -> None:
    assert "nothing recorded" in bar_chart({}, title="x")
    assert "nothing recorded" in line_chart({}, title="x")
    ET.fromstring(line_chart({}, title="x"))


def test_texts_replace_the_counts_of_suppressed_bars_and_points() -> None:
    svg = bar_chart({"a": 30, "b": 0}, title="t", texts={"b": "<10"})
    root = ET.fromstring(svg)
    assert [b.find(f"{SVG}title").text for b in root.findall(f"{SVG}rect")] == ["a: 30", "b: <10"]  # type: ignore[union-attr]
    assert "<10" not in svg and "&lt;10" in svg
    svg = line_chart({"shared": [("d1", 12), ("d2", 0)]}, title="t", texts={("shared", "d2"): "withheld"})
    circles = ET.fromstring(svg).findall(f"{SVG}circle")
    assert [c.find(f"{SVG}title").text for c in circles] == ["shared d1: 12", "shared d2: withheld"]  # type: ignore[union-attr]
    assert [c.get("fill") for c in circles] == [PALETTE[0], "#fff"]  # the suppressed point is drawn open
