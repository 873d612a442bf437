"""Pure precedent decisions: what memory recalled, as the card's meta, the prompt's examples and the override."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.card import PRECEDENT_REASON, Precedent, SimilarIncident, TriageCard, restate_labels

SEVERITY_ORDER = ("P0", "P1", "P2", "P3")

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Example:
    """A judged earlier incident shown to the model: its (redacted) text and the team's labels."""

    text: str
    severity: str
    category: str
    verdict: str
    same_incident: bool


@dataclass(frozen=True)
class Memory:
    """What the store recalled for one triage."""

    precedent: Precedent | None = None
    similar: tuple[SimilarIncident, ...] = ()
    examples: tuple[Example, ...] = field(default=())

    @property
    def cache_tag(self) -> str:
        """Part of the idempotency key: a new verdict on the identity makes earlier cached answers unreachable."""
        p = self.precedent
        return "" if p is None else f"{p.triage_id}:{p.at!r}:{p.verdict}:{p.severity}:{p.category}"


def memory_from(recalled: Mapping[str, Any]) -> Memory:
    """The store's plain answer as typed memory; anything malformed is left out, never fatal."""
    raw = recalled.get("precedent")
    precedent = None
    examples: list[Example] = []
    if raw:
        try:
            precedent = Precedent.model_validate({k: raw.get(k) for k in Precedent.model_fields})
        except ValidationError:
            precedent = None
    if precedent is not None and raw and raw.get("text"):
        examples.append(Example(str(raw["text"]), precedent.severity, precedent.category, precedent.verdict, True))
    similar: list[SimilarIncident] = []
    for item in recalled.get("similar") or ():
        try:
            similar.append(SimilarIncident.model_validate({k: item.get(k) for k in SimilarIncident.model_fields}))
        except ValidationError:
            continue
        judged_elsewhere = item.get("verdict") and (precedent is None or item.get("triage_id") != precedent.triage_id)
        if judged_elsewhere and item.get("text") and len(examples) < MAX_EXAMPLES:
            examples.append(
                Example(str(item["text"]), str(item["severity"]), str(item["category"]), str(item["verdict"]), False)
            )
    return Memory(precedent, tuple(similar), tuple(examples))


def against_label(precedent: Precedent | None, least: str) -> Precedent | None:
    """The precedent, marked when it sets severity below `least`, the least severe the alert's own label allows.

    A reviewer may know better than the label; the card still says so, and a person looks again.
    """
    if precedent is None or least not in SEVERITY_ORDER or precedent.severity not in SEVERITY_ORDER:
        return precedent
    if SEVERITY_ORDER.index(precedent.severity) <= SEVERITY_ORDER.index(least):
        return precedent
    return precedent.model_copy(update={"below_label": least})


def with_precedent(card: TriageCard, precedent: Precedent | None) -> TriageCard:
    """The people's severity and category replace the engine's; summary and steps stay the engine's, except
    a summary line that stated other labels, which now states these (the card agrees with itself)."""
    if precedent is None or (card.severity, card.category) == (precedent.severity, precedent.category):
        return card
    summary = restate_labels(card.summary, precedent.severity, precedent.category, PRECEDENT_REASON)
    return card.model_copy(update={"severity": precedent.severity, "category": precedent.category, "summary": summary})
