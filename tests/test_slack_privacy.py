"""Who may teach the gateway and who may see what, through signed Slack requests and the fake Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import modal
from bot.slack.actions import ACTION_CONFIRM, ACTION_SEVERITY
from bot.slack.membership import Membership, TTLCache
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import SlackApp, slack_app

DISK = "Disk /var on db-2 at 97% and rising"
PRIVATE_ALERT = "Disk /var on vault-1 at 96% and rising: secrets backend hosts under audit"


@pytest.fixture
def app(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[SlackApp]:
    fake_slack.open_channels = False
    fake_slack.join("CALERT", "U1", "U2")
    fake_slack.join("CPRIV", "U1", private=True)
    with slack_app(gateways, fake_slack, alert_channels=["CALERT", "CPRIV"]) as served:
        yield served


def click(app: SlackApp, card: dict[str, Any], channel: str, action_id: str, value: str | None, user: str) -> None:
    action = sr.click(card["blocks"], action_id, value)
    message = {"ts": card["ts"], "blocks": card["blocks"], "text": card["text"]}
    app.interact(sr.block_actions(action, message=message, user=user, channel=channel))


def alert_card(app: SlackApp, channel: str, text: str, count: int) -> dict[str, Any]:
    app.event(sr.message_event(user="U1", channel=channel, text=text)[0])
    post = app.posted(count)[-1]
    return app.card(post)


def test_a_non_members_clicks_teach_nothing_and_are_told_why(app: SlackApp) -> None:
    card = alert_card(app, "CALERT", DISK, 1)
    click(app, card, "CALERT", ACTION_SEVERITY, "P3", user="U9")
    click(app, card, "CALERT", ACTION_CONFIRM, None, user="U9")
    app.slack.wait_for(lambda: len(app.slack.calls_to("chat.postEphemeral")) >= 2)
    told = app.slack.calls_to("chat.postEphemeral")
    assert {call.args["user"] for call in told} == {"U9"}
    assert all("Only members of this channel" in call.args["text"] for call in told)
    assert app.gateway.store.feedback_rows() == []
    # A member's verdict is stored and becomes the precedent.
    click(app, card, "CALERT", ACTION_SEVERITY, "P3", user="U2")
    app.slack.wait_for(lambda: app.gateway.store.feedback_rows())
    (row,) = app.gateway.store.feedback_rows()
    assert row["user"] == "U2" and row["new_value"] == "P3"
    assert app.slack.calls_to("conversations.members")


def test_an_outsiders_home_tab_shows_no_private_incident(app: SlackApp) -> None:
    alert_card(app, "CPRIV", PRIVATE_ALERT, 1)
    alert_card(app, "CALERT", DISK, 2)
    app.slack.wait_for(lambda: len(app.gateway.store.open_incidents(0, 10)) == 2)

    app.event(sr.app_home_opened("U2"))
    outsider = app.slack.wait_for(lambda: app.slack.calls_to("views.publish", ok_only=True))[-1]
    text = json.dumps(outsider.args["view"])
    assert "CPRIV" not in text and "vault-1" not in text
    assert "<#CALERT>" in text

    app.event(sr.app_home_opened("U1"))
    app.slack.wait_for(lambda: len(app.slack.calls_to("views.publish", ok_only=True)) == 2)
    member = app.slack.calls_to("views.publish", ok_only=True)[-1]
    text = json.dumps(member.args["view"])
    assert "<#CPRIV>" in text and "<#CALERT>" in text
    asked = app.slack.calls_to("users.conversations")
    assert asked and "private_channel" in asked[0].args["types"]


def test_the_modal_posts_only_where_the_submitter_is_a_member(app: SlackApp) -> None:
    values = {
        modal.TEXT_BLOCK: {modal.TEXT_ACTION: {"type": "plain_text_input", "value": DISK}},
        modal.CHANNEL_BLOCK: {modal.CHANNEL_ACTION: {"type": "conversations_select", "selected_conversation": "CPRIV"}},
    }
    view = modal.modal_view("CPRIV")
    response = app.send(sr.view_submission(view, values, user="U2"), "application/x-www-form-urlencoded")
    body = response.json()
    assert body["response_action"] == "errors"
    assert "member" in body["errors"][modal.CHANNEL_BLOCK]
    assert app.slack.posts() == []
    # A member's submission goes through.
    response = app.send(sr.view_submission(view, values, user="U1"), "application/x-www-form-urlencoded")
    (post,) = app.posted(1)
    assert post.args["channel"] == "CPRIV"


def test_seen_before_never_quotes_a_private_channel_elsewhere(app: SlackApp) -> None:
    private = alert_card(app, "CPRIV", PRIVATE_ALERT, 1)
    assert "vault-1" in json.dumps(private["blocks"])
    public = alert_card(app, "CALERT", "Disk /var on vault-2 at 96% and rising: secrets backend hosts under audit", 2)
    store = app.gateway.store
    triage_id = app.slack.wait_for(lambda: store.triage_at("CALERT", public["ts"]))
    result = store.get_triage(str(triage_id))
    assert result is not None and result.meta.similar, "the private incident should have been recalled"
    assert "vault-1" not in json.dumps(public["blocks"]) and "Seen before" not in json.dumps(public["blocks"])
    # In its own channel, the same recall is shown.
    again = alert_card(app, "CPRIV", "Filesystem full on vault-3: secrets backend hosts under audit", 3)
    assert "Seen before" in json.dumps(again["blocks"])


async def test_membership_is_paginated_and_cached_briefly() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    with FakeSlack() as fake:
        fake.open_channels = False
        fake.join("CBIG", *[f"U{n}" for n in range(450)])
        now = [0.0]
        client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
        members = Membership(client, ttl=60, clock=lambda: now[0])
        assert await members.is_member("U449", "CBIG") and not await members.is_member("U999", "CBIG")
        assert len(fake.calls_to("conversations.members")) == 3  # 200 + 200 + 50
        now[0] = 59
        await members.is_member("U1", "CBIG")
        assert len(fake.calls_to("conversations.members")) == 3
        now[0] = 121
        fake.leave("CBIG", "U1")
        assert not await members.is_member("U1", "CBIG")
        assert await members.members_of("CNOPE") is None and await members.is_private("CNOPE")
        assert await members.channels_of("U3") == frozenset({"CBIG"})


def test_ttl_cache_expires_and_stays_small() -> None:
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(10, clock=lambda: now[0], max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") is None and cache.get("c") == 3
    now[0] = 11
    assert cache.get("c") is None
