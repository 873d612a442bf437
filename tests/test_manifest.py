"""manifest.yml declares what the Slack app registers, and says why it asks for each scope and event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.slack import modal, shortcut

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_message_shortcut_home_tab_and_its_event_are_declared() -> None:
    app = manifest()
    (declared,) = app["features"]["shortcuts"]
    assert declared["type"] == "message" and declared["callback_id"] == shortcut.CALLBACK_ID == "triage_message"
    assert modal.CALLBACK_ID == "triage_modal"
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in app["settings"]["event_subscriptions"]["bot_events"]
    assert app["settings"]["interactivity"]["is_enabled"] is True
    assert {"chat:write", "commands"} <= set(app["oauth_config"]["scopes"]["bot"])


def test_every_scope_and_event_has_a_reason_on_the_line_above() -> None:
    lines = MANIFEST.read_text().splitlines()
    app = manifest()
    for item in [*app["oauth_config"]["scopes"]["bot"], *app["settings"]["event_subscriptions"]["bot_events"]]:
        index = next(n for n, line in enumerate(lines) if line.strip() == f"- {item}")
        assert lines[index - 1].strip().startswith("# "), f"{item} has no reason"
