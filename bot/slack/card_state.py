"""What happened to a card after it was posted, and the labels people left on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.alerts.incidents import Incident
from bot.card import TriageResult

FeedbackKind = Literal["confirm", "severity", "category"]


@dataclass(frozen=True)
class FeedbackNote:
    """One human judgement shown on the card."""

    user: str
    action: FeedbackKind
    old: str | None = None
    new: str | None = None
    # Where it came from: only a Slack click's user is mentioned; an HTTP or MCP author is plain text.
    origin: str = "slack"


@dataclass(frozen=True)
class CardState:
    """What happened to a card after it was posted: feedback, repeats, resolution, re-triage."""

    feedback: Sequence[FeedbackNote] = field(default_factory=tuple)
    seen_count: int = 1
    last_seen: float | None = None
    resolved: bool = False
    resolved_at: float | None = None
    updated_by_model: bool = False
    requested_by: str | None = None
    places: Sequence[str] = ()


def effective_labels(result: TriageResult, state: CardState) -> tuple[str, str]:
    """Severity and category after human overrides (the latest override of each wins)."""
    severity: str = result.severity
    category: str = result.category
    for note in state.feedback:
        if note.action == "severity" and note.new:
            severity = note.new
        elif note.action == "category" and note.new:
            category = note.new
    return severity, category


def card_state(
    incident: Incident | None,
    feedback: Sequence[FeedbackNote] = (),
    *,
    requested_by: str | None = None,
    updated_by_model: bool = False,
) -> CardState:
    """The one place a card's state is built from what is stored: its incident's counter, resolution and
    places (when it is an incident's card), the feedback so far, who asked, whether the model redrew it.

    Every redraw (counter, resolve, click, re-triage, verdict) goes through this, so none of them can drop
    what another one shows.
    """
    if incident is None:
        return CardState(feedback=tuple(feedback), requested_by=requested_by, updated_by_model=updated_by_model)
    return CardState(
        feedback=tuple(feedback),
        seen_count=incident.count,
        last_seen=incident.last_seen,
        resolved=incident.resolved,
        resolved_at=incident.last_seen if incident.resolved else None,
        updated_by_model=updated_by_model,
        places=incident.places,
        requested_by=requested_by,
    )
