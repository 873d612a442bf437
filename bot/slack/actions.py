"""The card's controls and the ids Slack sends back with a click: Confirm and the two selects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.card import CATEGORIES, SEVERITIES
from bot.slack.labels import CATEGORY_LABEL, SEVERITY_LABEL

ACTION_CONFIRM = "triage_confirm"
ACTION_SEVERITY = "triage_severity"
ACTION_CATEGORY = "triage_category"
ACTIONS_BLOCK_PREFIX = "triage_actions:"
ORIGIN_BLOCK_PREFIX = "triage_origin:"
VALUE_SEPARATOR = "|"


def action_value(triage_id: str, value: str | None = None) -> str:
    """The value an interactive element carries: the triage id, plus the chosen option if any."""
    return triage_id if value is None else f"{triage_id}{VALUE_SEPARATOR}{value}"


def actions_block(triage_id: str, severity: str, category: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": f"{ACTIONS_BLOCK_PREFIX}{triage_id}"[:255],
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_CONFIRM,
                "text": {"type": "plain_text", "text": "Confirm", "emoji": True},
                "style": "primary",
                "value": action_value(triage_id),
            },
            _select(ACTION_SEVERITY, "Severity", triage_id, SEVERITIES, severity, SEVERITY_LABEL),
            _select(ACTION_CATEGORY, "Category", triage_id, CATEGORIES, category, CATEGORY_LABEL),
        ],
    }


def _select(
    action_id: str,
    placeholder: str,
    triage_id: str,
    values: Sequence[str],
    current: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    options = [_option(labels.get(value, value), action_value(triage_id, value)) for value in values]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": placeholder},
        "options": options,
    }
    if current in values:
        element["initial_option"] = options[list(values).index(current)]
    return element


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label[:75], "emoji": True}, "value": value[:150]}
