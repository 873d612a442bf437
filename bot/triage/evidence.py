"""Hard evidence from the alert text, and the check of any engine's answer against it.

The check never makes an answer worse: it may raise severity to a floor on decisive evidence (a stated loss
of service, an active compromise) and it flags disagreements for review; it never lowers a severity, and it
replaces a category only on proof from the tool that wrote the text (a runtime-security or cloud-security
finding), never on a word read in prose.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.card import TriageCard
from bot.triage.rules import severity_rank


@dataclass(frozen=True)
class Evidence:
    """What the text proves regardless of who triages it, and why a person should look."""

    # the category the text proves (runtime-security output, a leaked credential...), if any
    category: str | None = None
    category_reason: str = ""
    # True when the proof comes from the tool's own structure (a security tool's finding): then it replaces
    # a different answer; otherwise a different answer is only flagged for review
    category_binding: bool = True
    # the severity range the text allows: `least` is the floor decisive evidence sets (an answer less severe
    # is raised to it); `most` is what a label allows, only compared to flag a review, never applied
    most: str = "P0"
    least: str = "P3"
    severity_reason: str = ""
    # the least severe level the alert's own severity label allows (P3 when it has none): what a verdict
    # below the label is measured against
    label_least: str = "P3"
    review: tuple[str, ...] = ()


def check_answer(card: TriageCard, evidence: Evidence) -> tuple[TriageCard, tuple[str, ...]]:
    """Raise an answer to the evidence's floor; the reasons a person should review it, changes included."""
    changes: dict[str, str] = {}
    reasons: list[str] = []
    if evidence.category is not None and card.category != evidence.category:
        if evidence.category_binding:
            changes["category"] = evidence.category
            reasons.append(f"category {card.category} overruled: {evidence.category_reason}")
        else:
            reasons.append(f"category {card.category}, but {evidence.category_reason}")
    if severity_rank(card.severity) > severity_rank(evidence.least):
        changes["severity"] = evidence.least
        reasons.append(f"severity {card.severity} raised to {evidence.least}: {evidence.severity_reason}")
    review = evidence.review + tuple(reasons)
    if not changes:
        return card, review
    return card.model_copy(update=changes), review
