"""Pure feedback decisions: what a click changes on a card, and the card's notes from stored rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.card import TriageResult
from bot.slack.card_state import CardState, FeedbackNote, effective_labels
from bot.slack.payloads import CardAction


@dataclass(frozen=True)
class FeedbackChange:
    """One feedback row to store: the value shown before the click and the value chosen."""

    action: str
    old_value: str | None
    new_value: str | None


def notes_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[FeedbackNote, ...]:
    """Stored feedback rows (oldest first) as the notes a card shows."""
    notes = []
    for row in rows:
        action = row.get("action")
        if action in ("confirm", "severity", "category"):
            notes.append(FeedbackNote(
                str(row["user"]), action, row.get("old_value"), row.get("new_value"), str(row.get("origin") or "slack")
            ))
    return tuple(notes)


def feedback_change(result: TriageResult, state: CardState, action: CardAction) -> FeedbackChange | None:
    """The row a click adds, or None when it changes nothing (choosing the value already shown)."""
    severity, category = effective_labels(result, state)
    if action.action == "confirm":
        # What was confirmed: the card as shown, including earlier corrections.
        return FeedbackChange("confirm", None, f"{severity}/{category}")
    shown = severity if action.action == "severity" else category
    if action.value is None or action.value == shown:
        return None
    return FeedbackChange(action.action, shown, action.value)


def verdict_refusal(
    user: str,
    *,
    reviewer_group: str | None,
    reviewers: frozenset[str] | None,
    channel_members: frozenset[str] | None,
) -> str | None:
    """Why `user` may not judge a card (None when they may): only reviewers' verdicts teach.

    Reviewers are the members of the reviewer group when one is configured, otherwise the members of the
    channel the card is in. Confirm, the selects and HTTP verdicts all go through this one check; a
    membership Slack could not tell (None) refuses rather than trusts.
    """
    if reviewer_group:
        if reviewers is None:
            return "I could not check the triage reviewer group with Slack just now: try again in a minute."
        if user not in reviewers:
            return (
                "Only members of the triage reviewer group can confirm or correct cards: "
                "your click was not recorded."
            )
        return None
    if channel_members is None:
        return "I could not check who is in this channel with Slack just now: try again in a minute."
    if user not in channel_members:
        return "Only members of this channel can confirm or correct its cards: your click was not recorded."
    return None
