"""Feedback decisions: what a click records, and the notes a card shows."""

from __future__ import annotations

from typing import Any

from bot.slack.card_state import CardState, FeedbackNote
from bot.slack.feedback import FeedbackChange, feedback_change, notes_from_rows, verdict_refusal
from bot.slack.payloads import CardAction
from tests.test_slack_blocks import make_result


def act(action: str, value: str | None = None, user: str = "U1") -> CardAction:
    return CardAction("t-123", action, value, user)  # type: ignore[arg-type]


def test_confirm_records_what_was_shown() -> None:
    assert feedback_change(make_result(), CardState(), act("confirm")) == FeedbackChange("confirm", None, "P1/data")
    state = CardState(feedback=(FeedbackNote("U2", "severity", "P1", "P0"),))
    assert feedback_change(make_result(), state, act("confirm")) == FeedbackChange("confirm", None, "P0/data")


def test_override_old_value_is_the_value_shown_before_the_click() -> None:
    assert feedback_change(make_result(), CardState(), act("severity", "P2")) == FeedbackChange("severity", "P1", "P2")
    state = CardState(feedback=(FeedbackNote("U2", "category", "data", "infra"),))
    assert feedback_change(make_result(), state, act("category", "app")) == FeedbackChange("category", "infra", "app")


def test_choosing_the_shown_value_is_no_change() -> None:
    assert feedback_change(make_result(), CardState(), act("severity", "P1")) is None
    assert feedback_change(make_result(), CardState(), act("category", "data")) is None


def test_notes_from_rows_keeps_order_and_ignores_unknown_actions() -> None:
    rows: list[dict[str, Any]] = [
        {"user": "U1", "action": "confirm", "old_value": None, "new_value": "P1/data"},
        {"user": "U2", "action": "severity", "old_value": "P1", "new_value": "P0"},
        {"user": "U3", "action": "resolve", "old_value": None, "new_value": None},
    ]
    assert notes_from_rows(rows) == (
        FeedbackNote("U1", "confirm", None, "P1/data"),
        FeedbackNote("U2", "severity", "P1", "P0"),
    )


def test_every_kind_of_verdict_needs_a_reviewer() -> None:
    group = frozenset({"U1"})
    assert verdict_refusal("U1", reviewer_group="S1", reviewers=group, channel_members=None) is None
    refused = verdict_refusal("U2", reviewer_group="S1", reviewers=group, channel_members=frozenset({"U2"}))
    assert refused and "reviewer group" in refused
    # Without a group, the channel's members are the reviewers; an unknown membership refuses.
    assert verdict_refusal("U2", reviewer_group=None, reviewers=None, channel_members=frozenset({"U2"})) is None
    assert verdict_refusal("U3", reviewer_group=None, reviewers=None, channel_members=frozenset({"U2"}))
    assert verdict_refusal("U2", reviewer_group=None, reviewers=None, channel_members=None)
    assert verdict_refusal("U1", reviewer_group="S1", reviewers=None, channel_members=None)
