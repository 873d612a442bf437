"""The HTML page of one eval run: headline figures, dev beside held-out, rates, confusions, misses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bot.evals.pages.charts import BAD, GOOD, NEUTRAL, WARN, bar_chart, colour_for, confusion_table, latency_histogram
from bot.evals.pages.parts import NONE, clip, figure_cards, page, pct, table, when

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
            f'<span class="fig" data-key="split.dev.{key}" data-value="{dev[key]}">{pct(dev[key])}</span>',
            f'<span class="fig" data-key="split.holdout.{key}" data-value="{held[key]}">{pct(held[key])}</span>',
        ]
        for name, key in _SPLIT_FIGURES
    ]
    rows.append(["cases", str(dev["cases"]), str(held["cases"])])
    rows.append(["files", escape(", ".join(dev["files"])), escape(", ".join(held["files"]))])
    return table(["figure", "dev (tuned on)", "held-out (never tuned on)"], rows, numeric=[1, 2])


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
        f"<b>Degraded run: {pct(degraded.get('share'))} of cases</b> ({count} of {total}) fell back to the "
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
        ("schema valid", pct(summary["schema_valid"])),
        ("category accuracy", pct(summary["category_accuracy"])),
        ("severity accuracy", pct(summary["severity_accuracy"])),
        ("actionable steps", pct(summary["actionability"])),
        ("latency p50 / p95", f"{summary['latency_ms']['p50']:.1f} / {summary['latency_ms']['p95']:.1f} ms"),
        ("estimated cost", f"${summary['cost_usd']['total']:.4f}"),
        ("needs review", pct(summary["needs_review"])),
    ]
    split = document.get("split") or {}
    held = split.get("holdout")
    if held and split.get("dev"):
        # Beside each dev figure, the one on the held-out sets.
        for name, key in (("severity accuracy", "severity_accuracy"), ("category accuracy", "category_accuracy")):
            at = next(index for index, (shown, _) in enumerate(headline) if shown == name)
            headline.insert(at + 1, (f"{name} · held-out", pct(held[key])))
    cards = figure_cards(headline)
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
            escape(clip(str(case.get("summary", "")).split("\n", 1)[0], 160)) or escape(str(case.get("error") or "")),
            f'<span class="small pre">{escape(clip(str(case.get("text_preview", "")), 200))}</span>',
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
    title = f"engine {engine}" + (f" · DEGRADED {pct(degraded_share)}" if degraded_share else "")
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
        f'<p class="meta">{escape(when(document.get("created_at")))} · {escape(files)} · '
        f"{document.get('wall_seconds', 0):.1f} s wall time</p>",
        f'<p class="meta">{provenance}</p>',
        f"<div class=cards>{cards}</div>",
        "<h2>Dev and held-out</h2>",
        holdout_table(split),
        f'<p class="meta">engines used: {engines} · models: {models} · prompt versions: {prompts or "none"} · '
        f"degraded {pct(summary['degraded'])} · errors {summary['errors']}</p>",
        "<h2>Rates</h2>",
        bar_chart(rates, maximum=1.0, unit="%", colours=[colour_for(value) for _, value in rates]),
        "<h2>Accuracy per file</h2>",
        bar_chart(per_file, maximum=1.0, unit="%", colours=[colour_for(value) for _, value in per_file]),
        "<h2>Category confusion</h2>",
        confusion_table(summary["confusion"]["category"]),
        "<h2>Severity confusion</h2>",
        confusion_table(summary["confusion"]["severity"]),
        "<h2>Calibration</h2>",
        f'<p class="meta">confidently wrong (confidence ≥ 0.8, wrong severity): '
        f"{pct(summary.get('confidently_wrong', 0.0))} of cards</p>",
        table(
            ["confidence", "cards", "mean confidence", "category right", "severity right", "both right"],
            [[escape(str(row["bin"])), str(row["cards"]), f"{row['mean_confidence']:.2f}",
              pct(row["category_accuracy"]), pct(row["severity_accuracy"]), pct(row["both_correct"])]
             for row in summary.get("calibration", [])],
            numeric=[1, 2, 3, 4, 5],
        ),
        "<h2>Predicted severities</h2>",
        bar_chart(predicted, unit=" cases", colours=[BAD, WARN, NEUTRAL, GOOD]),
        "<h2>Latency</h2>",
        latency_histogram(latencies),
        "<h2>Step actionability</h2>",
        table(["issue", "cases"], issue_rows, numeric=[1]) if issue_rows else "<p class=ok>every card has three "
        "distinct, non-empty instructions without placeholder text</p>",
        table(["case", "issues", "steps"], flagged_rows) if flagged_rows else "",
        f"<h2>Misses ({len(misses)})</h2>",
        table(["case", "category", "severity", "summary", "alert"], miss_rows) if miss_rows else NONE,
    ]
    return page(f"Triage eval · {title}", "".join(body))


def _mark(value: Any, ok: Any, accepted: Any) -> str:
    shown = escape(str(value)) if value is not None else "–"
    if ok:
        return f'<span class="ok">{shown}</span>'
    allowed = "/".join(escape(str(item)) for item in accepted or [])
    return f'<span class="bad">{shown}</span> <span class="small want">(want {allowed})</span>'
