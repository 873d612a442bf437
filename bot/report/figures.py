"""The dashboard's figures, and the full report that gathers them with agreement and versions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.card import SEVERITIES
from bot.report.agreement import aggregate, report_json
from bot.report.versions import Answer, JudgedCard, agrees, answers, judged_cards, share, versions
from bot.store import Store


def _day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def timeline(all_answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """Agreement per day (of the card) for every version: the people's verdict equals the answer."""
    grouped: dict[tuple[str, str, str, str], list[Answer]] = defaultdict(list)
    for answer in all_answers:
        grouped[(_day(answer.card.created_at), answer.role, answer.model, answer.prompt_version)].append(answer)
    return [
        {"day": day, "role": role, "model": model, "prompt_version": prompt, "judged": len(items),
         "agreement": share(sum(agrees(a) for a in items), len(items))}
        for (day, role, model, prompt), items in sorted(grouped.items())
    ]


def severity_matrix(cards: Sequence[JudgedCard]) -> dict[str, dict[str, int]]:
    """card severity -> human severity -> judged cards (every label present, zeros included)."""
    matrix = {card: dict.fromkeys(SEVERITIES, 0) for card in SEVERITIES}
    for card in cards:
        if card.severity in matrix and card.human_severity in SEVERITIES:
            matrix[card.severity][card.human_severity] += 1
    return matrix


def overridden_identities(cards: Sequence[JudgedCard], limit: int = 10) -> list[dict[str, Any]]:
    """The alert identities whose cards people corrected most often, each with an example text."""
    grouped: dict[str, list[JudgedCard]] = defaultdict(list)
    for card in cards:
        grouped[card.fingerprint or card.triage_id].append(card)
    rows: list[dict[str, Any]] = []
    for fingerprint, items in grouped.items():
        overridden = [c for c in items if (c.severity, c.category) != (c.human_severity, c.human_category)]
        if not overridden:
            continue
        latest = overridden[-1]
        rows.append({
            "fingerprint": fingerprint,
            "judged": len(items),
            "overridden": len(overridden),
            "card": f"{latest.severity}/{latest.category}",
            "human": f"{latest.human_severity}/{latest.human_category}",
            "example": latest.text[:300],
        })
    rows.sort(key=lambda row: (-row["overridden"], -row["judged"], row["fingerprint"]))
    return rows[:limit]


def cost_per_day(triages: Iterable[Mapping[str, Any]], shadows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Estimated spend per UTC day: every live triage, and the candidate's shadow runs apart."""
    live: dict[str, float] = defaultdict(float)
    shadow: dict[str, float] = defaultdict(float)
    for row in triages:
        live[_day(float(row.get("created_at") or 0.0))] += float(row.get("cost_usd") or 0.0)
    for row in shadows:
        shadow[_day(float(row.get("created_at") or 0.0))] += float(row.get("cost_usd") or 0.0)
    return [
        {"day": day, "live_usd": round(live[day], 6), "shadow_usd": round(shadow[day], 6)}
        for day in sorted(live.keys() | shadow.keys())
    ]


def full_report(
    triages: Sequence[Mapping[str, Any]],
    feedback: Sequence[Mapping[str, Any]],
    posted: Iterable[str],
    shadows: Sequence[Mapping[str, Any]],
    since: float | None = None,
) -> dict[str, Any]:
    """The agreement report plus versions side by side and the dashboard's figures (pure)."""
    report = report_json(aggregate(triages, feedback, posted), since)
    cards = judged_cards(triages, feedback)
    both = answers(cards, shadows)
    report["versions"] = versions(both)
    # Over time the live versions count every judged card (their history is older than any candidate's).
    report["timeline"] = timeline(answers(cards, []) + [a for a in both if a.role == "shadow"])
    report["severity_matrix"] = severity_matrix(cards)
    report["overridden_identities"] = overridden_identities(cards)
    report["cost_per_day"] = cost_per_day(triages, shadows)
    report["shadow_runs"] = {"recorded": len(shadows), "errors": sum(1 for row in shadows if row.get("error"))}
    return report


def read_report(store: Store, since: float) -> dict[str, Any]:
    """Everything the report and the dashboard need, read from the store."""
    return full_report(
        store.triage_rows(since), store.feedback_rows(since), store.posted_ids(since), store.shadow_rows(since)
    )
