"""The HTML page of severity drift between two eval runs."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from bot.evals.pages.charts import BAD, NEUTRAL, bar_chart
from bot.evals.pages.parts import NONE, figure_cards, page, pct, table


def drift_report(drift: Mapping[str, Any]) -> str:
    """The HTML page for severity drift between two runs."""
    levels = [(f"{name} level(s)", float(count)) for name, count in drift["by_levels"].items()]
    colours = [BAD if name.startswith("+") else NEUTRAL for name in drift["by_levels"]]
    headline = [
        ("cases in both", str(drift["common_cases"])),
        ("moved", f"{drift['moved']} ({pct(drift['moved_share'])})"),
        ("more severe", str(drift["more_severe"])),
        ("less severe", str(drift["less_severe"])),
        ("fixed / broken", f"{drift['became_right']} / {drift['became_wrong']}"),
        ("category changed", str(drift["category_changed"])),
    ]
    cards = figure_cards(headline)
    rows = [
        [
            f"<code class=id>{escape(str(item['file']))}:{escape(str(item['id']))}</code>",
            escape(str(item["from"])),
            escape(str(item["to"])),
            f"{item['levels']:+d}",
            "<span class=ok>yes</span>" if item["right_after"] else "<span class=bad>no</span>",
        ]
        for item in drift["cases"]
    ]
    accuracy = drift.get("severity_accuracy", {})
    body = [
        "<h1>Severity drift</h1>",
        f'<p class="meta">A: {escape(str(drift["run_a"]))} · B: {escape(str(drift["run_b"]))} · '
        f"severity accuracy {pct(accuracy.get('a'))} → {pct(accuracy.get('b'))}</p>",
        f"<div class=cards>{cards}</div>",
        "<h2>Moves by levels (+ = B more severe)</h2>",
        bar_chart(levels, unit=" cases", colours=colours),
        f"<h2>Cases that moved ({len(rows)})</h2>",
        table(["case", "A", "B", "levels", "B right"], rows, numeric=[3]) if rows else NONE,
    ]
    return page("Severity drift", "".join(body))
