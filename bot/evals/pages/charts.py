"""Inline SVG charts and the confusion table, with the colours that grade a share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from bot.evals.pages.parts import table

GOOD, WARN, BAD, NEUTRAL = "#2e9e5b", "#d79b00", "#c8412d", "#4a72c4"
_SINGULAR = {" cases": " case"}


def _with_unit(value: float, unit: str) -> str:
    """`1 case`, `2 cases`: counts read as words."""
    if value == 1 and unit in _SINGULAR:
        return f"{value:g}{_SINGULAR[unit]}"
    return f"{value:g}{unit}"


def colour_for(share: float) -> str:
    return GOOD if share >= 0.95 else WARN if share >= 0.85 else BAD


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    maximum: float | None = None,
    unit: str = "",
    colours: Sequence[str] | None = None,
    label_width: int = 190,
) -> str:
    """Horizontal bars as an inline SVG; values are shown at the end of each bar."""
    if not items:
        return '<p class="small">nothing to chart</p>'
    top = maximum if maximum is not None else max((value for _, value in items), default=0.0)
    top = top or 1.0
    bar_area, row = 420, 24
    height = row * len(items) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_area + 90}" height="{height}" '
        f'role="img">'
    ]
    for index, (label, value) in enumerate(items):
        y = 4 + index * row
        width = max(0.0, min(1.0, value / top)) * bar_area
        colour = colours[index] if colours else NEUTRAL
        shown = f"{value * 100:.1f} %" if unit == "%" else _with_unit(value, unit)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="16" rx="3" fill="{colour}"/>'
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def confusion_table(matrix: Mapping[str, Mapping[str, int]]) -> str:
    """Rows are the truth, columns the prediction; cells are shaded by their share of the row."""
    columns = [name for name in next(iter(matrix.values()), {}) if any(row.get(name) for row in matrix.values())]
    columns = columns or list(next(iter(matrix.values()), {}))
    rows = []
    for truth, predicted in matrix.items():
        total = sum(predicted.values())
        if not total:
            continue
        cells = [f"<b>{escape(truth)}</b>"]
        for column in columns:
            count = predicted.get(column, 0)
            share = count / total
            colour = "46,158,91" if column == truth else "200,65,45"
            shade = f"background:rgba({colour},{0.12 + 0.6 * share:.2f})"
            cell = f'<span class="c" style="{shade}">{count}</span>' if count else '<span class="c zero">0</span>'
            cells.append(cell)
        cells.append(str(total))
        rows.append(cells)
    return table(["truth \\ predicted", *columns, "total"], rows, numeric=range(1, len(columns) + 2))


def latency_histogram(latencies: Sequence[float]) -> str:
    if not latencies:
        return '<p class="small">no latencies recorded</p>'
    edges = [0.5, 1, 2, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    buckets: list[tuple[str, float]] = []
    lower = 0.0
    for edge in edges:
        buckets.append((f"{lower:g}–{edge:g} ms", float(sum(1 for value in latencies if lower <= value < edge))))
        lower = edge
    buckets.append((f"≥ {lower:g} ms", float(sum(1 for value in latencies if value >= lower))))
    # Empty buckets between the first and the last used one stay, so gaps in the distribution show.
    used = [index for index, (_, count) in enumerate(buckets) if count]
    return bar_chart(buckets[used[0] : used[-1] + 1], unit=" cases")
