"""Small charts as inline SVG, for the console's dashboard and the transparency report.

Drawn on the server into the page itself: nothing is fetched by the browser, so the pages
work on an isolated network and a saved report shows the same thing years later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# Colour-blind-safe (Okabe-Ito) palette; series take them in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

_FONT = 'font-family="sans-serif" font-size="11"'


def bar_chart(
    values: Mapping[str, int],
    *,
    title: str,
    width: int = 480,
    bar_height: int = 18,
    texts: Mapping[str, str] | None = None,
) -> str:
    """Horizontal bars, one per label, largest first, each with its count written beside it.

    ``texts`` replaces the count written for some labels (a suppressed count, say: give it
    the value 0 so that no bar is drawn, and the text to print instead).
    """
    texts = texts or {}
    items = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    label_width, gap, top = 170, 6, 24
    height = top + max(1, len(items)) * (bar_height + gap) + 4
    peak = max((v for _, v in items), default=0) or 1
    span = width - label_width - 60
    parts = [_open(width, height, title), _title(title)]
    if not items:
        parts.append(f'<text x="{label_width}" y="{top + bar_height - 4}" {_FONT} fill="#666">nothing recorded</text>')
    for row, (label, value) in enumerate(items):
        y = top + row * (bar_height + gap)
        length = max(1, round(span * value / peak)) if value else 0
        colour = PALETTE[row % len(PALETTE)]
        text = escape(texts.get(label, str(value)))
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" text-anchor="end" {_FONT}>{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" fill="{colour}">'
            f"<title>{escape(label)}: {text}</title></rect>"
            f'<text x="{label_width + length + 4}" y="{y + bar_height - 5}" {_FONT}>{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Mapping[str, Sequence[tuple[str, int]]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    texts: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """Counts over time: one polyline per series over shared x labels (days, say), with a legend.

    Every series is a list of (x label, count); the x axis is the sorted union of the labels,
    and a label missing from a series counts as 0 there. ``texts`` replaces the count of some
    (series, x) points in their tooltip; those points are drawn as open circles.
    """
    texts = texts or {}
    xs = sorted({x for points in series.values() for x, _ in points})
    left, right, top, bottom = 44, 12, 40, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for points in series.values() for _, v in points), default=0) or 1
    parts = [_open(width, height, title), _title(title)]
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {_FONT}>{peak}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {_FONT}>0</text>'
    )
    if not xs:
        parts.append(f'<text x="{left + 8}" y="{top + plot_h // 2}" {_FONT} fill="#666">nothing recorded</text>')

    def x_at(i: int) -> float:
        return left + (plot_w * i / (len(xs) - 1) if len(xs) > 1 else plot_w / 2)

    for i in sorted({0, len(xs) - 1}) if xs else ():
        # the first label starts at its point, the last ends at it: neither runs off the picture
        anchor = "middle" if len(xs) == 1 else ("start" if i == 0 else "end")
        parts.append(f'<text x="{x_at(i):.1f}" y="{height - 8}" text-anchor="{anchor}" {_FONT}>{escape(xs[i])}</text>')
    legend_x = left
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        by_x = dict(points)
        coords = [(x_at(i), top + plot_h - plot_h * by_x.get(x, 0) / peak) for i, x in enumerate(xs)]
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        if coords:
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (cx, cy), x in zip(coords, xs, strict=True):
            text = texts.get((name, x))
            fill = f'r="3" fill="#fff" stroke="{colour}"' if text is not None else f'r="2.5" fill="{colour}"'
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" {fill}>'
                f"<title>{escape(name)} {escape(x)}: {escape(text or str(by_x.get(x, 0)))}</title></circle>"
            )
        parts.append(
            f'<rect x="{legend_x}" y="24" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="33" {_FONT}>{escape(name)}</text>'
        )
        legend_x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    )


def _title(title: str) -> str:
    return f'<text x="4" y="14" font-family="sans-serif" font-size="13" font-weight="bold">{escape(title)}</text>'
