"""Feedback decisions: what a click records, and the notes a card shows."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import CardState, FeedbackNote
from bot.slack.feedback import FeedbackChange, feedback_change, needs_reviewer, notes_from_rows
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


def test_only_overrides_need_a_reviewer() -> None:
    assert needs_reviewer(act("severity", "P0"), "S1") and needs_reviewer(act("category", "app"), "S1")
    assert not needs_reviewer(act("confirm"), "S1")
    assert not needs_reviewer(act("severity", "P0"), None)
