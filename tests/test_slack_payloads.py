"""Parsing Slack payloads: alert text, what gets triaged, card clicks and /triage text."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.card import card_message
from bot.slack.card_state import CardState
from bot.slack.payloads import (
    BotIdentity,
    CardAction,
    SlashCommand,
    alert_text,
    parse_card_action,
    parse_command,
    requested_by,
    skip_reason,
    unformat,
)
from tests.test_slack_blocks import make_result

ME = BotIdentity(user_id="UBOT", bot_id="BBOT")
CHANNELS = {"CALERT"}


def message(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "message", "channel": "CALERT", "ts": "1700000000.000100"}
    event.update(fields)
    return event


# -- alert text ----------------------------------------------------------------------------------


def test_plain_text() -> None:
    assert alert_text(message(text="Disk full on db-2")) == "Disk full on db-2"


def test_attachments_alertmanager_style() -> None:
    event = message(
        subtype="bot_message",
        bot_id="BALERT",
        text="",
        attachments=[
            {
                "fallback": "[FIRING:1] HighErrorRate",
                "title": "[FIRING:1] HighErrorRate api",
                "title_link": "http://alertmanager/#/alerts",
                "text": "5xx ratio 12% on checkout &gt; 5%",
                "fields": [{"title": "severity", "value": "critical", "short": True}],
                "pretext": "Alertmanager",
            }
        ],
    )
    assert alert_text(event) == (
        "Alertmanager\n[FIRING:1] HighErrorRate api\n5xx ratio 12% on checkout > 5%\nseverity: critical"
    )


def test_attachment_fallback_only_when_nothing_else() -> None:
    event = message(attachments=[{"fallback": "Grafana: CPU high on node-3"}])
    assert alert_text(event) == "Grafana: CPU high on node-3"


def test_blocks_modern_bot_post() -> None:
    event = message(
        bot_id="BGRAFANA",
        bot_profile={"id": "BGRAFANA", "name": "Grafana"},
        text="CPU high",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "CPU high"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*node-3* at 97% for 10m"},
                "fields": [{"type": "mrkdwn", "text": "*env:* prod"}],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<http://grafana/d/1|dashboard>"}]},
            {"type": "divider"},
        ],
    )
    # "CPU high" appears in text and header: it is kept once.
    # A link reads as its label, as a person sees it: the target is never part of the alert's text.
    assert alert_text(event) == "CPU high\n*node-3* at 97% for 10m\n*env:* prod\ndashboard"


def test_rich_text_blocks() -> None:
    event = message(
        text="",
        blocks=[
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "Falco: shell in container "},
                            {"type": "link", "url": "http://falco/ev/1", "text": "event"},
                            {"type": "user", "user_id": "U9"},
                        ],
                    },
                    {
                        "type": "rich_text_list",
                        "elements": [
                            {"type": "rich_text_section", "elements": [{"type": "text", "text": "pod=web-1"}]},
                        ],
                    },
                    {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "sh -c id"}]},
                ],
            }
        ],
    )
    assert alert_text(event) == "Falco: shell in container event@U9\n- pod=web-1\nsh -c id"


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("<https://x.io/a|the dash>", "the dash"),
        ("<https://x.io>", "https://x.io"),
        ("<http://x.io|x.io>", "x.io"),
        ("<@U123>", "@U123"),
        ("<@U123|alice>", "@alice"),
        ("<#C1|ops>", "#ops"),
        ("<!channel> now", "@channel now"),
        ("<!subteam^S1|@oncall>", "@oncall"),
        ("<!date^1700000000^{date}|Nov 14>", "Nov 14"),
    ],
)
def test_unformat(raw: str, plain: str) -> None:
    assert unformat(raw) == plain


# -- what gets triaged ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        message(user="U1", text="disk full"),
        message(subtype="bot_message", bot_id="BALERT", username="alertmanager", text="FIRING"),
        message(bot_id="BGRAF", bot_profile={"id": "BGRAF"}, user="UGRAF", text="CPU high"),
        message(user="U1", text="top-level", thread_ts="1700000000.000100"),
        message(subtype="file_share", user="U1", text="log attached"),
    ],
)
def test_triaged(event: dict[str, Any]) -> None:
    assert skip_reason(event, channels=CHANNELS, identity=ME) is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (message(user="U1", text="x", channel="COTHER"), "not an alert channel"),
        (message(subtype="bot_message", bot_id="BBOT", text="our card"), "own message"),
        (message(bot_id="BBOT", bot_profile={"id": "BBOT"}, user="UBOT", text="card"), "own message"),
        (message(user="UBOT", text="card"), "own message"),
        (message(subtype="message_changed", hidden=True, message={"text": "x"}), "subtype message_changed"),
        (message(subtype="message_deleted", hidden=True), "subtype message_deleted"),
        (message(subtype="channel_join", user="U1", text="<@U1> joined"), "subtype channel_join"),
        (message(user="U1", text="ack", thread_ts="1699999999.000001"), "thread reply"),
        (message(subtype="thread_broadcast", user="U1", text="x", thread_ts="1"), "subtype thread_broadcast"),
        (message(user="U1", text="   "), "no text"),
        ({"type": "app_mention", "channel": "CALERT", "text": "x"}, "not a message"),
    ],
)
def test_skipped(event: dict[str, Any], reason: str) -> None:
    assert skip_reason(event, channels=CHANNELS, identity=ME) == reason


def test_nothing_is_triaged_without_channels() -> None:
    assert skip_reason(message(user="U1", text="x"), channels=(), identity=ME) == "not an alert channel"


# -- card clicks ---------------------------------------------------------------------------------


def block_actions(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U7", "username": "ann"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "1700.0001", "channel_id": "C1"},
        "message": {"ts": "1700.0001", "blocks": []},
        "response_url": "https://hooks.slack.com/actions/x",
        "actions": [action],
    }


def card_elements() -> list[dict[str, Any]]:
    blocks = card_message(make_result())["blocks"]
    return next(block for block in blocks if block["type"] == "actions")["elements"]


def test_confirm_click_round_trips_from_the_card() -> None:
    button = dict(card_elements()[0], block_id="triage_actions:t-123")
    parsed = parse_card_action(block_actions(button))
    assert parsed == CardAction(
        triage_id="t-123",
        action="confirm",
        value=None,
        user_id="U7",
        channel_id="C1",
        message_ts="1700.0001",
        response_url="https://hooks.slack.com/actions/x",
    )


def test_selects_round_trip_from_the_card() -> None:
    _, severity, category = card_elements()
    chosen = dict(severity, selected_option=severity["options"][0])
    parsed = parse_card_action(block_actions(chosen))
    assert parsed is not None and (parsed.action, parsed.value, parsed.triage_id) == ("severity", "P0", "t-123")
    chosen = dict(category, selected_option=category["options"][3])
    parsed = parse_card_action(block_actions(chosen))
    assert parsed is not None and (parsed.action, parsed.value) == ("category", "security")


@pytest.mark.parametrize(
    "action",
    [
        {"action_id": "something_else", "value": "t-1"},
        {"action_id": "triage_severity", "selected_option": {"value": "t-1|P9"}},
        {"action_id": "triage_category", "selected_option": {"value": "t-1|weather"}},
        {"action_id": "triage_confirm", "value": ""},
        {"action_id": "triage_confirm"},
        {"action_id": "triage_severity", "selected_option": {"value": "|P1"}},
    ],
)
def test_invalid_clicks_are_none(action: dict[str, Any]) -> None:
    assert parse_card_action(block_actions(action)) is None


def test_no_actions_is_none() -> None:
    assert parse_card_action({"type": "block_actions", "user": {"id": "U1"}, "actions": []}) is None


# -- slash command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SlashCommand("usage")),
        (None, SlashCommand("usage")),
        ("   ", SlashCommand("usage")),
        ("help", SlashCommand("help")),
        (" HELP ", SlashCommand("help")),
        ("--help", SlashCommand("help")),
        ("disk full on db-2", SlashCommand("triage", "disk full on db-2")),
        ("cpu &gt; 90% <http://g/d|dash>", SlashCommand("triage", "cpu > 90% dash")),
        ("help me, api is down", SlashCommand("triage", "help me, api is down")),
    ],
)
def test_parse_command(text: str | None, expected: SlashCommand) -> None:
    assert parse_command(text) == expected


def test_requested_by_round_trips_through_the_card() -> None:
    posted = card_message(make_result(), CardState(requested_by="U42"))
    assert requested_by({"blocks": posted["blocks"]}) == "U42"
    assert requested_by({"blocks": card_message(make_result())["blocks"]}) is None
    assert requested_by(None) is None
