"""Hard evidence from the alert text, and the check of any engine's answer against it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.card import TriageCard
from bot.triage.rules import SEVERITY_ORDER


@dataclass(frozen=True)
class Evidence:
    """What the text proves regardless of who triages it, and why a person should look."""

    # the category a decisive rule proves (runtime-security output, a leaked credential...), if any
    category: str | None = None
    category_reason: str = ""
    # the severity range the text allows: `most` is the most severe, `least` the least severe
    most: str = "P0"
    least: str = "P3"
    severity_reason: str = ""
    review: tuple[str, ...] = ()


def _rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity)


def check_answer(card: TriageCard, evidence: Evidence) -> tuple[TriageCard, tuple[str, ...]]:
    """Clamp an answer into what the evidence allows; the reasons a person should review it, changes included."""
    changes: dict[str, str] = {}
    reasons: list[str] = []
    if evidence.category is not None and card.category != evidence.category:
        changes["category"] = evidence.category
        reasons.append(f"category {card.category} overruled: {evidence.category_reason}")
    rank = _rank(card.severity)
    if rank < _rank(evidence.most):
        changes["severity"] = evidence.most
    elif rank > _rank(evidence.least):
        changes["severity"] = evidence.least
    if "severity" in changes:
        reasons.append(f"severity {card.severity} moved to {changes['severity']}: {evidence.severity_reason}")
    review = evidence.review + tuple(reasons)
    if not changes:
        return card, review
    return card.model_copy(update=changes), review
