"""The report as plain text for the terminal: a table per version and the confusions people corrected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def render_text(report: Mapping[str, Any]) -> str:
    lines = [
        f"{'model':<24} {'prompt':<12} {'cards':>6} {'confirmed':>9} {'overridden':>10} {'agreement':>9}",
    ]
    for g in report["groups"]:
        lines.append(
            f"{g['model'][:24]:<24} {g['prompt_version'][:12]:<12} {g['cards']:>6} {g['confirmed']:>9} "
            f"{g['overridden']:>10} {_percent(g['agreement']):>9}"
        )
        for title, key in (("severity", "severity_confusion"), ("category", "category_confusion")):
            pairs = [f"{old}→{new} ×{n}" for old, news in g[key].items() for new, n in news.items()]
            if pairs:
                lines.append(f"    {title} changed: " + ", ".join(pairs))
    lines.append(
        f"{'all':<37} {report['cards']:>6} {report['confirmed']:>9} {report['overridden']:>10} "
        f"{_percent(report['agreement']):>9}"
    )
    if not report["groups"]:
        lines.append("no cards yet: agreement appears once people Confirm or correct cards in Slack")
    if report.get("versions"):
        lines.append("")
        lines.append("versions on the same judged cards (agreement = the people's verdict equals the answer):")
        lines.append(
            f"{'role':<7}{'model':<22} {'prompt':<18} {'judged':>6} {'severity':>8} {'category':>8} {'both':>6}"
            f" {'drift +/-':>9} {'$/card':>9} {'p50 ms':>8}"
        )
        for v in report["versions"]:
            drift = f"{v['drift']['more_severe']}/{v['drift']['less_severe']}"
            cost = "-" if v["cost_usd_per_card"] is None else f"{v['cost_usd_per_card']:.5f}"
            latency = "-" if v["latency_ms_p50"] is None else f"{v['latency_ms_p50']:.0f}"
            lines.append(
                f"{v['role']:<7}{v['model'][:22]:<22} {v['prompt_version'][:18]:<18} {v['judged']:>6}"
                f" {_percent(v['agreement_severity']):>8} {_percent(v['agreement_category']):>8}"
                f" {_percent(v['agreement']):>6} {drift:>9} {cost:>9} {latency:>8}"
            )
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"
