"""Self-contained HTML reports for eval runs and drift: tables and inline SVG charts, no external assets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1d2430;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6}
.meta{color:#5b6578;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #d8dde6;border-radius:8px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.card span{color:#5b6578;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #d8dde6;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d}.bad{color:#b42318}.small{font-size:.8rem;color:#5b6578}code{font-size:.85rem}
.pre{white-space:pre-wrap}.zero{color:#b8bfcc}.id,.want{white-space:nowrap}
.c{display:inline-block;min-width:1.6em;padding:0 .25em;border-radius:3px;text-align:right}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
.banner{background:#fde8e6;border:2px solid #b42318;color:#7a1610;border-radius:8px;padding:.8rem 1rem;
font-size:1.05rem;margin:1rem 0}.banner b{font-size:1.25rem}
.card.held{border-style:dashed}
"""
_GOOD, _WARN, _BAD, _NEUTRAL = "#2e9e5b", "#d79b00", "#c8412d", "#4a72c4"


_NONE = "<p class=ok>none</p>"
_SINGULAR = {" cases": " case"}


def _cards(figures: Sequence[tuple[str, str]]) -> str:
    cells = (f"<div class=card><b>{escape(shown)}</b><span>{escape(name)}</span></div>" for name, shown in figures)
    return "".join(cells)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _clip(text: str, limit: int) -> str:
    """Shorten raw text (before escaping, so no entity is cut in half) and say that it was shortened."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _with_unit(value: float, unit: str) -> str:
    """`1 case`, `2 cases`: counts read as words."""
    if value == 1 and unit in _SINGULAR:
        return f"{value:g}{_SINGULAR[unit]}"
    return f"{value:g}{unit}"


def _colour_for(share: float) -> str:
    return _GOOD if share >= 0.95 else _WARN if share >= 0.85 else _BAD


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
        colour = colours[index] if colours else _NEUTRAL
        shown = f"{value * 100:.1f} %" if unit == "%" else _with_unit(value, unit)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="16" rx="3" fill="{colour}"/>'
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{cell}</td>' if index in numeric else f"<td>{cell}</td>" for index, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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
    return _table(["truth \\ predicted", *columns, "total"], rows, numeric=range(1, len(columns) + 2))


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "unknown time"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def _latency_histogram(latencies: Sequence[float]) -> str:
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


_SPLIT_FIGURES = (
    ("category accuracy", "category_accuracy"),
    ("severity accuracy", "severity_accuracy"),
    ("both right", "both_correct"),
    ("schema valid", "schema_valid"),
    ("degraded", "degraded"),
)


def holdout_table(split: Mapping[str, Any] | None) -> str:
    """Each dev figure beside the figure on the held-out sets (never tuned on)."""
    dev = (split or {}).get("dev")
    held = (split or {}).get("holdout")
    if not dev or not held:
        missing = "held-out" if dev else "dev"
        return f'<p class="small">no {missing} cases in this run: nothing to set side by side</p>'
    rows = [
        [
            escape(name),
            f'<span class="fig" data-key="split.dev.{key}" data-value="{dev[key]}">{_pct(dev[key])}</span>',
            f'<span class="fig" data-key="split.holdout.{key}" data-value="{held[key]}">{_pct(held[key])}</span>',
        ]
        for name, key in _SPLIT_FIGURES
    ]
    rows.append(["cases", str(dev["cases"]), str(held["cases"])])
    rows.append(["files", escape(", ".join(dev["files"])), escape(", ".join(held["files"]))])
    return _table(["figure", "dev (tuned on)", "held-out (never tuned on)"], rows, numeric=[1, 2])


def degraded_banner(document: Mapping[str, Any]) -> str:
    """A banner no one can miss when cases fell back to the heuristic engine."""
    degraded = document.get("degraded_cases") or {}
    count = int(degraded.get("count") or 0)
    if not count:
        return ""
    total = len(document.get("cases", [])) or 1
    reasons = ", ".join(f"{escape(str(reason))} {n}" for reason, n in (degraded.get("reasons") or {}).items())
    return (
        f'<div class="banner" data-key="degraded_cases.share" data-value="{degraded.get("share")}">'
        f"<b>Degraded run: {_pct(degraded.get('share'))} of cases</b> ({count} of {total}) fell back to the "
        f"heuristic engine ({reasons}). These figures are not those of engine "
        f"{escape(str(document.get('engine', '?')))}.</div>"
    )


def run_report(document: Mapping[str, Any]) -> str:
    """The HTML page for one eval run (the document written to run.json)."""
    summary: Mapping[str, Any] = document["summary"]
    cases: Sequence[Mapping[str, Any]] = document["cases"]
    engine = str(document.get("engine", "?"))
    files = ", ".join(str(file) for file in document.get("files", []))
    headline = [
        ("cases", str(summary["cases"])),
        ("schema valid", _pct(summary["schema_valid"])),
        ("category accuracy", _pct(summary["category_accuracy"])),
        ("severity accuracy", _pct(summary["severity_accuracy"])),
        ("actionable steps", _pct(summary["actionability"])),
        ("latency p50 / p95", f"{summary['latency_ms']['p50']:.1f} / {summary['latency_ms']['p95']:.1f} ms"),
        ("estimated cost", f"${summary['cost_usd']['total']:.4f}"),
        ("needs review", _pct(summary["needs_review"])),
    ]
    split = document.get("split") or {}
    held = split.get("holdout")
    if held and split.get("dev"):
        # Beside each dev figure, the one on the held-out sets.
        for name, key in (("severity accuracy", "severity_accuracy"), ("category accuracy", "category_accuracy")):
            at = next(index for index, (shown, _) in enumerate(headline) if shown == name)
            headline.insert(at + 1, (f"{name} · held-out", _pct(held[key])))
    cards = _cards(headline)
    rates = [
        ("schema valid", summary["schema_valid"]),
        ("category accuracy", summary["category_accuracy"]),
        ("severity accuracy", summary["severity_accuracy"]),
        ("both right", summary["both_correct"]),
        ("actionable steps", summary["actionability"]),
    ]
    per_file: list[tuple[str, float]] = []
    for file, figures in summary["by_file"].items():
        per_file.append((f"{file} · category", figures["category_accuracy"]))
        per_file.append((f"{file} · severity", figures["severity_accuracy"]))
    for file in document.get("holdout_files", []):
        if file in summary["by_file"]:
            continue
        held_cases = [case for case in cases if case.get("file") == file]
        for label in ("category", "severity") if held_cases else ():
            right = sum(bool(case.get(f"{label}_ok")) for case in held_cases)
            per_file.append((f"{file} · {label} (held-out)", right / len(held_cases)))
    engines = ", ".join(f"{escape(str(name))} {count}" for name, count in summary["engines"].items())
    models = ", ".join(f"{escape(str(name))} {count}" for name, count in summary["models"].items()) or "none"
    prompts = ", ".join(f"{escape(str(name))} {count}" for name, count in summary["prompt_versions"].items())

    misses = [case for case in cases if not (case.get("category_ok") and case.get("severity_ok"))]
    miss_rows = [
        [
            f"<code class=id>{escape(str(case.get('file', '')))}:{escape(str(case['id']))}</code>",
            _mark(case.get("category"), case.get("category_ok"), case.get("expected_categories")),
            _mark(case.get("severity"), case.get("severity_ok"), case.get("expected_severities")),
            escape(_clip(str(case.get("summary", "")).split("\n", 1)[0], 160)) or escape(str(case.get("error") or "")),
            f'<span class="small pre">{escape(_clip(str(case.get("text_preview", "")), 200))}</span>',
        ]
        for case in misses
    ]
    issue_rows = [[escape(kind), str(count)] for kind, count in summary["step_issues"].items()]
    flagged = [case for case in cases if case.get("step_issues")]
    flagged_rows = [
        [
            f"<code class=id>{escape(str(case.get('file', '')))}:{escape(str(case['id']))}</code>",
            escape("; ".join(case.get("step_issues", []))),
            "<br>".join(escape(str(step)) for step in case.get("steps", [])),
        ]
        for case in flagged[:50]
    ]
    predicted = [
        (severity, float(sum(1 for case in cases if case.get("severity") == severity)))
        for severity in ("P0", "P1", "P2", "P3")
    ]
    latencies = [float(case.get("latency_ms", 0.0)) for case in cases if case.get("schema_valid")]
    degraded_share = float((document.get("degraded_cases") or {}).get("share") or 0.0)
    title = f"engine {engine}" + (f" · DEGRADED {_pct(degraded_share)}" if degraded_share else "")
    made = document.get("settings") or {}
    provenance = " · ".join(
        escape(part) for part in (
            f"commit {document.get('commit') or 'unknown'}",
            f"prompt {made.get('prompt_version') or '–'}",
            f"models {made.get('model_fast', '–')} / {made.get('model_strong', '–')}"
            + ("" if made.get("model_enabled", True) else " (no model configured)"),
        )
    )
    body = [
        f"<h1>Triage eval · {escape(title)}</h1>",
        degraded_banner(document),
        f'<p class="meta">{escape(_when(document.get("created_at")))} · {escape(files)} · '
        f"{document.get('wall_seconds', 0):.1f} s wall time</p>",
        f'<p class="meta">{provenance}</p>',
        f"<div class=cards>{cards}</div>",
        "<h2>Dev and held-out</h2>",
        holdout_table(split),
        f'<p class="meta">engines used: {engines} · models: {models} · prompt versions: {prompts or "none"} · '
        f"degraded {_pct(summary['degraded'])} · errors {summary['errors']}</p>",
        "<h2>Rates</h2>",
        bar_chart(rates, maximum=1.0, unit="%", colours=[_colour_for(value) for _, value in rates]),
        "<h2>Accuracy per file</h2>",
        bar_chart(per_file, maximum=1.0, unit="%", colours=[_colour_for(value) for _, value in per_file]),
        "<h2>Category confusion</h2>",
        confusion_table(summary["confusion"]["category"]),
        "<h2>Severity confusion</h2>",
        confusion_table(summary["confusion"]["severity"]),
        "<h2>Calibration</h2>",
        f'<p class="meta">confidently wrong (confidence ≥ 0.8, wrong severity): '
        f"{_pct(summary.get('confidently_wrong', 0.0))} of cards</p>",
        _table(
            ["confidence", "cards", "mean confidence", "category right", "severity right", "both right"],
            [[escape(str(row["bin"])), str(row["cards"]), f"{row['mean_confidence']:.2f}",
              _pct(row["category_accuracy"]), _pct(row["severity_accuracy"]), _pct(row["both_correct"])]
             for row in summary.get("calibration", [])],
            numeric=[1, 2, 3, 4, 5],
        ),
        "<h2>Predicted severities</h2>",
        bar_chart(predicted, unit=" cases", colours=[_BAD, _WARN, _NEUTRAL, _GOOD]),
        "<h2>Latency</h2>",
        _latency_histogram(latencies),
        "<h2>Step actionability</h2>",
        _table(["issue", "cases"], issue_rows, numeric=[1]) if issue_rows else "<p class=ok>every card has three "
        "distinct, non-empty instructions without placeholder text</p>",
        _table(["case", "issues", "steps"], flagged_rows) if flagged_rows else "",
        f"<h2>Misses ({len(misses)})</h2>",
        _table(["case", "category", "severity", "summary", "alert"], miss_rows) if miss_rows else _NONE,
    ]
    return _page(f"Triage eval · {title}", "".join(body))


def _mark(value: Any, ok: Any, accepted: Any) -> str:
    shown = escape(str(value)) if value is not None else "–"
    if ok:
        return f'<span class="ok">{shown}</span>'
    allowed = "/".join(escape(str(item)) for item in accepted or [])
    return f'<span class="bad">{shown}</span> <span class="small want">(want {allowed})</span>'


def drift_report(drift: Mapping[str, Any]) -> str:
    """The HTML page for severity drift between two runs."""
    levels = [(f"{name} level(s)", float(count)) for name, count in drift["by_levels"].items()]
    colours = [_BAD if name.startswith("+") else _NEUTRAL for name in drift["by_levels"]]
    headline = [
        ("cases in both", str(drift["common_cases"])),
        ("moved", f"{drift['moved']} ({_pct(drift['moved_share'])})"),
        ("more severe", str(drift["more_severe"])),
        ("less severe", str(drift["less_severe"])),
        ("fixed / broken", f"{drift['became_right']} / {drift['became_wrong']}"),
        ("category changed", str(drift["category_changed"])),
    ]
    cards = _cards(headline)
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
        f"severity accuracy {_pct(accuracy.get('a'))} → {_pct(accuracy.get('b'))}</p>",
        f"<div class=cards>{cards}</div>",
        "<h2>Moves by levels (+ = B more severe)</h2>",
        bar_chart(levels, unit=" cases", colours=colours),
        f"<h2>Cases that moved ({len(rows)})</h2>",
        _table(["case", "A", "B", "levels", "B right"], rows, numeric=[3]) if rows else _NONE,
    ]
    return _page("Severity drift", "".join(body))
