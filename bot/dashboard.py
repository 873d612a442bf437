"""The agreement dashboard: one self-contained HTML page (inline SVG, no external assets) built from the
figures of `triage-bot report --json`, written by `report --html FILE` and served at GET /report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bot.evals.pages.charts import BAD, GOOD, NEUTRAL, WARN, bar_chart
from bot.evals.pages.parts import figure_cards, page, pct, table, when
from bot.evals.pages.run import holdout_table

_PALETTE = ("#4a72c4", "#c8412d", "#2e9e5b", "#d79b00", "#7b4fb3", "#1f9bb4", "#b3477a", "#5b6578")


def _figure(value: Any, key: str, shown: str) -> str:
    """A figure with its raw value attached, so a reader (or a test) can match it to the JSON."""
    return f'<span class="fig" data-key="{escape(key)}" data-value="{escape(str(value))}">{escape(shown)}</span>'


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.5f}"


def _series_name(item: Mapping[str, Any]) -> str:
    return f"{item['role']} · {item['model']} · {item['prompt_version']}"


def line_chart(series: Mapping[str, Sequence[tuple[str, float | None]]], days: Sequence[str]) -> str:
    """Agreement (0–100 %) per day, one polyline per version, as an inline SVG with a legend."""
    if not days or not series:
        return '<p class="small">no judged cards yet</p>'
    left, top, width, height = 50, 12, 640, 200
    step = width / max(1, len(days) - 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="timeline" width="{left + width + 40}" '
        f'height="{top + height + 50 + 18 * len(series)}" role="img">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + height * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * 100:.0f} %</text>'
        )
    for index, day in enumerate(days):
        x = left + (step * index if len(days) > 1 else width / 2)
        parts.append(f'<text x="{x:.1f}" y="{top + height + 16}" text-anchor="middle">{escape(day[5:])}</text>')
    for number, (name, points) in enumerate(series.items()):
        colour = _PALETTE[number % len(_PALETTE)]
        coords = []
        for day, value in points:
            if value is None:
                continue
            index = days.index(day)
            x = left + (step * index if len(days) > 1 else width / 2)
            y = top + height * (1 - value)
            coords.append((x, y, day, value))
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, day, value in coords:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}" data-series="{escape(name)}" '
                f'data-day="{escape(day)}" data-value="{value}"><title>{escape(name)} {escape(day)}: '
                f"{value * 100:.1f} %</title></circle>"
            )
        legend_y = top + height + 40 + 18 * number
        parts.append(
            f'<rect x="{left}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + 18}" y="{legend_y}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _versions_table(items: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for index, v in enumerate(items):
        drift = v["drift"]
        moved = drift.get("moved_from_live")
        rows.append([
            escape(v["role"]),
            f"<code>{escape(v['model'])}</code>",
            f"<code>{escape(v['prompt_version'])}</code>",
            _figure(v["judged"], f"versions.{index}.judged", str(v["judged"])),
            _figure(v["agreement_severity"], f"versions.{index}.agreement_severity", pct(v["agreement_severity"])),
            _figure(v["agreement_category"], f"versions.{index}.agreement_category", pct(v["agreement_category"])),
            _figure(v["agreement"], f"versions.{index}.agreement", pct(v["agreement"])),
            escape(f"+{drift['more_severe']} / −{drift['less_severe']}")
            + (f' <span class="small">({moved} moved from live)</span>' if moved is not None else ""),
            _figure(v["cost_usd_per_card"], f"versions.{index}.cost_usd_per_card", _money(v["cost_usd_per_card"])),
            _figure(v["latency_ms_p50"], f"versions.{index}.latency_ms_p50",
                    "–" if v["latency_ms_p50"] is None else f"{v['latency_ms_p50']:.0f} ms"),
        ])
    headers = ["role", "model", "prompt", "judged", "severity", "category", "both", "drift (more / less severe)",
               "cost per card", "latency p50"]
    return table(headers, rows, numeric=[3, 4, 5, 6, 8, 9])


def _matrix(matrix: Mapping[str, Mapping[str, int]]) -> str:
    columns = list(next(iter(matrix.values()), {}))
    rows = []
    for card, humans in matrix.items():
        cells = [f"<b>{escape(card)}</b>"]
        total = sum(humans.values())
        for human in columns:
            count = humans.get(human, 0)
            colour = "46,158,91" if human == card else "200,65,45"
            shade = f"background:rgba({colour},{0.12 + 0.6 * (count / total if total else 0):.2f})"
            cell = f'<span class="c" style="{shade}">{count}</span>' if count else '<span class="c zero">0</span>'
            key = escape(f"severity_matrix.{card}.{human}")
            cells.append(f'<span class="fig" data-key="{key}" data-value="{count}">{cell}</span>')
        cells.append(str(total))
        rows.append(cells)
    return table(["card \\ people", *columns, "total"], rows, numeric=range(1, len(columns) + 2))


def _identities(items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return "<p class=ok>no card was overridden</p>"
    rows = [
        [
            f"<code class=id>{escape(str(item['fingerprint'])[:16])}</code>",
            _figure(item["overridden"], f"overridden_identities.{index}.overridden", str(item["overridden"]))
            + f" of {int(item['judged'])}",
            escape(f"{item['card']} → {item['human']}"),
            f'<span class="small pre">{escape(str(item["example"]))}</span>',
        ]
        for index, item in enumerate(items)
    ]
    return table(["identity", "overridden", "last card → people", "example"], rows, numeric=[1])


def _cost_chart(days: Sequence[Mapping[str, Any]]) -> str:
    if not days:
        return '<p class="small">no spend recorded</p>'
    bars: list[tuple[str, float]] = []
    colours: list[str] = []
    for day in days:
        bars.append((f"{day['day']} · live", float(day["live_usd"])))
        colours.append(NEUTRAL)
        if day["shadow_usd"]:
            bars.append((f"{day['day']} · shadow", float(day["shadow_usd"])))
            colours.append(WARN)
    return bar_chart(bars, unit=" USD", colours=colours).replace("<svg ", '<svg class="chart" data-chart="cost" ', 1)


def dashboard_page(report: Mapping[str, Any], *, eval_run: Mapping[str, Any] | None = None) -> str:
    """The page for a report (the dict `triage-bot report --json` prints)."""
    items: Sequence[Mapping[str, Any]] = report.get("versions", [])
    timeline: Sequence[Mapping[str, Any]] = report.get("timeline", [])
    days = sorted({str(point["day"]) for point in timeline})
    series: dict[str, list[tuple[str, float | None]]] = {}
    for point in timeline:
        series.setdefault(_series_name(point), []).append((str(point["day"]), point["agreement"]))
    judged = sum(int(v["judged"]) for v in items if v["role"] == "live")
    headline = [
        ("cards", str(report.get("cards", 0))),
        ("confirmed / overridden", f"{report.get('confirmed', 0)} / {report.get('overridden', 0)}"),
        ("agreement (all cards)", pct(report.get("agreement"))),
        ("judged cards compared", str(judged)),
        ("shadow runs", str(report.get("shadow_runs", {}).get("recorded", 0))),
    ]
    agreement_bars = [(_series_name(v), float(v["agreement"] or 0.0)) for v in items]
    colours = [GOOD if (v["agreement"] or 0) >= 0.9 else WARN if (v["agreement"] or 0) >= 0.75 else BAD
               for v in items]
    since = report.get("since")
    body = [
        "<h1>Triage agreement</h1>",
        f'<p class="meta">{"since " + escape(when(since)) if since else "all time"} · a version agrees with a '
        "judged card when the people's final severity (and category) equals its answer</p>",
        f"<div class=cards>{figure_cards(headline)}</div>",
        "<h2>Versions on the same judged cards</h2>",
        _versions_table(items) if items else '<p class="small">no judged cards yet</p>',
        bar_chart(agreement_bars, maximum=1.0, unit="%", colours=colours, label_width=330).replace(
            "<svg ", '<svg class="chart" data-chart="versions" ', 1) if agreement_bars else "",
        "<h2>Agreement over time</h2>",
        line_chart(series, days),
        "<h2>Card severity against the people's</h2>",
        _matrix(report.get("severity_matrix", {})) if report.get("severity_matrix") else "",
        "<h2>Most often overridden alerts</h2>",
        _identities(report.get("overridden_identities", [])),
        "<h2>Cost per day</h2>",
        _cost_chart(report.get("cost_per_day", [])),
        "<h2>Offline evals: dev and held-out</h2>",
        holdout_table(eval_run.get("split")) if eval_run is not None else (
            '<p class="small">no eval run given: <code>triage-bot report --html FILE --eval RUN</code> shows a run'
            "'s dev figures beside those on the held-out sets</p>"
        ),
    ]
    return page("Triage agreement", "".join(body))
