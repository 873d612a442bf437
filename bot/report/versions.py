"""Versions side by side on the same judged cards: the live one and the shadow candidates."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.card import SEVERITIES
from bot.evals.cases import percentile
from bot.report.agreement import verdict


@dataclass(frozen=True)
class JudgedCard:
    """A card people judged: what the live version answered and what the people settled on."""

    triage_id: str
    created_at: float
    fingerprint: str
    text: str
    model: str
    prompt_version: str
    severity: str
    category: str
    cost_usd: float
    latency_ms: float
    human_severity: str
    human_category: str


@dataclass(frozen=True)
class Answer:
    """One version's answer to a judged card (the live card itself, or a shadow run's)."""

    card: JudgedCard
    role: str
    model: str
    prompt_version: str
    severity: str
    category: str
    cost_usd: float
    latency_ms: float


def judged_cards(triages: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]) -> list[JudgedCard]:
    """The cards with a human verdict (a card given feedback is a card, see `aggregate`), oldest first."""
    by_triage: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(feedback, key=lambda r: (r.get("created_at") or 0, r.get("id") or 0)):
        by_triage[str(row["triage_id"])].append(row)
    cards: list[JudgedCard] = []
    for triage in triages:
        triage_id = str(triage["id"])
        if triage_id not in by_triage:
            continue
        judged = verdict(triage, by_triage[triage_id])
        if judged is None:
            continue
        cards.append(
            JudgedCard(
                triage_id=triage_id,
                created_at=float(triage.get("created_at") or 0.0),
                fingerprint=str(triage.get("fingerprint") or ""),
                text=str(triage.get("text") or ""),
                model=str(triage.get("model") or triage.get("engine") or "unknown"),
                prompt_version=str(triage.get("prompt_version") or "unknown"),
                severity=judged.severity,
                category=judged.category,
                cost_usd=float(triage.get("cost_usd") or 0.0),
                latency_ms=float(triage.get("latency_ms") or 0.0),
                human_severity=judged.final_severity,
                human_category=judged.final_category,
            )
        )
    cards.sort(key=lambda card: (card.created_at, card.triage_id))
    return cards


def answers(cards: Sequence[JudgedCard], shadows: Iterable[Mapping[str, Any]]) -> list[Answer]:
    """Every version's answer on the same judged cards.

    With shadow results, the live answers are those of the judged cards a candidate also answered, so live and
    shadow are scored on exactly the same cards; without any, every judged card counts for the live versions.
    """
    by_id = {card.triage_id: card for card in cards}
    shadow_answers = [
        Answer(
            card=by_id[str(row["triage_id"])],
            role="shadow",
            model=str(row.get("model") or "unknown"),
            prompt_version=str(row.get("prompt_version") or "unknown"),
            severity=str(row["severity"]),
            category=str(row.get("category") or "unknown"),
            cost_usd=float(row.get("cost_usd") or 0.0),
            latency_ms=float(row.get("latency_ms") or 0.0),
        )
        for row in shadows
        if str(row.get("triage_id")) in by_id and row.get("severity") and not row.get("error")
    ]
    shadowed = {answer.card.triage_id for answer in shadow_answers}
    live = [
        Answer(card, "live", card.model, card.prompt_version, card.severity, card.category, card.cost_usd,
               card.latency_ms)
        for card in cards
        if not shadowed or card.triage_id in shadowed
    ]
    return live + shadow_answers


def _levels(severity: str, human: str) -> int:
    """How many levels more severe than the people's verdict (P2 answered, P1 judged = -1)."""
    if severity not in SEVERITIES or human not in SEVERITIES:
        return 0
    return SEVERITIES.index(human) - SEVERITIES.index(severity)


def share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def agrees(answer: Answer) -> bool:
    return answer.severity == answer.card.human_severity and answer.category == answer.card.human_category


def version_figures(items: Sequence[Answer], live_by_id: Mapping[str, Answer] | None = None) -> dict[str, Any]:
    """Agreement with the people, severity drift, cost and latency of one version's answers."""
    judged = len(items)
    levels = [_levels(a.severity, a.card.human_severity) for a in items]
    by_levels = Counter(level for level in levels if level)
    drift: dict[str, Any] = {
        "more_severe": sum(1 for level in levels if level > 0),
        "less_severe": sum(1 for level in levels if level < 0),
        "mean_levels": round(sum(levels) / judged, 4) if judged else 0.0,
        "by_levels": {f"{level:+d}": by_levels[level] for level in sorted(by_levels, reverse=True)},
    }
    if live_by_id is not None:
        moved = [a for a in items if a.card.triage_id in live_by_id
                 and live_by_id[a.card.triage_id].severity != a.severity]
        drift["moved_from_live"] = len(moved)
        drift["moved_from_live_share"] = share(len(moved), judged)
    return {
        "judged": judged,
        "agreement_severity": share(sum(a.severity == a.card.human_severity for a in items), judged),
        "agreement_category": share(sum(a.category == a.card.human_category for a in items), judged),
        "agreement": share(sum(agrees(a) for a in items), judged),
        "drift": drift,
        "cost_usd_per_card": round(sum(a.cost_usd for a in items) / judged, 8) if judged else None,
        "latency_ms_p50": round(percentile([a.latency_ms for a in items], 50), 3) if judged else None,
    }


def versions(all_answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """One entry per (role, model, prompt version): live versions first, then the candidates."""
    grouped: dict[tuple[str, str, str], list[Answer]] = defaultdict(list)
    for answer in all_answers:
        grouped[(answer.role, answer.model, answer.prompt_version)].append(answer)
    live_by_id = {a.card.triage_id: a for a in all_answers if a.role == "live"}
    out = []
    for (role, model, prompt), items in sorted(grouped.items(), key=lambda kv: (kv[0][0] != "live", kv[0])):
        entry: dict[str, Any] = {"model": model, "prompt_version": prompt, "role": role}
        entry.update(version_figures(items, live_by_id if role == "shadow" else None))
        out.append(entry)
    return out
