"""The message shortcut end to end: signed message_action payloads in, cards in the message's thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.payloads import BotIdentity
from bot.slack.shortcut import parse_message_action
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import SlackApp, blocks_text, slack_app


@pytest.fixture
def app(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[SlackApp]:
    with slack_app(gateways, fake_slack) as served:
        yield served


def test_shortcut_posts_a_card_about_the_message_in_its_thread(app: SlackApp) -> None:
    message = {"ts": "1700000100.000200", "user": "U7",
               "text": "Customer reports checkout fails with HTTP 500 on the payment page since 10:00"}
    response = app.interact(sr.message_action(message, channel="CSUPPORT", user="U3"))
    assert response.text == ""
    (post,) = app.posted(1)
    assert post.args["channel"] == "CSUPPORT" and post.args["thread_ts"] == "1700000100.000200"
    card = app.card(post)
    # the card says what failed in its own words, naming the error the message reports
    assert "HTTP 500" in blocks_text(card) and "<@U3>" in blocks_text(card)
    (row,) = app.gateway.store.triage_rows()
    assert row["source"] == "slack:shortcut" and "payment page" in row["text"]
    stored = app.slack.wait_for(lambda: app.gateway.store.get_post(row["id"]))
    assert stored["requested_by"] == "U3" and stored["thread_ts"] == "1700000100.000200"


def test_shortcut_on_a_thread_reply_answers_in_that_thread(app: SlackApp) -> None:
    message = {"ts": "1700000200.000300", "thread_ts": "1700000100.000001", "user": "U7",
               "text": "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'user_id'"}
    app.interact(sr.message_action(message, channel="CDEV"))
    (post,) = app.posted(1)
    assert post.args["thread_ts"] == "1700000100.000001"
    assert "KeyError" in blocks_text(app.card(post))


def test_shortcut_reads_attachments_and_blocks_like_an_alert(app: SlackApp) -> None:
    message = {
        "ts": "1700000300.000100", "bot_id": "BALERTMANAGER", "subtype": "bot_message", "text": "",
        "attachments": [{"title": "[FIRING:1] NodeDown (node-3 prod)", "text": "node-3 unreachable for 5 minutes",
                         "fields": [{"title": "severity", "value": "critical"}]}],
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Runbook* check the kubelet on node-3"}}],
    }
    app.interact(sr.message_action(message, channel="CALERT"))
    (post,) = app.posted(1)
    (row,) = app.gateway.store.triage_rows()
    assert "NodeDown (node-3 prod)" in row["text"] and "severity: critical" in row["text"]
    assert "check the kubelet" in row["text"]
    assert "node-3" in blocks_text(app.card(post))


def test_second_shortcut_on_the_same_message_points_to_the_first_card(app: SlackApp) -> None:
    message = {"ts": "1700000400.000100", "user": "U7", "text": "Disk /var on db-2 at 97% and rising"}
    app.interact(sr.message_action(message, channel="COPS"))
    (post,) = app.posted(1)
    app.slack.wait_for(lambda: app.gateway.store.message_card("COPS", "1700000400.000100"))
    url = app.slack.response_url("again")
    app.interact(sr.message_action(message, channel="COPS", user="U8", response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("again"))
    assert answer.body["response_type"] == "ephemeral"
    assert f"p{post.response['ts'].replace('.', '')}" in answer.body["text"]
    assert len(app.slack.posts()) == 1 and len(app.gateway.store.triage_rows()) == 1


def test_a_shortcut_while_the_first_is_still_triaging_says_so(app: SlackApp) -> None:
    app.slack.delay("chat.postMessage", 1.0)
    message = {"ts": "1700000450.000100", "user": "U7", "text": "Kafka consumer lag 2M on orders"}
    app.interact(sr.message_action(message, channel="COPS"))
    app.slack.wait_for(lambda: app.slack.calls_to("chat.postMessage"))
    url = app.slack.response_url("busy")
    app.interact(sr.message_action(message, channel="COPS", response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("busy"))
    assert "already" in answer.body["text"] and "will appear in its thread" in answer.body["text"]
    app.posted(1)
    assert len(app.slack.calls_to("chat.postMessage")) == 1


def test_shortcut_on_an_alert_already_carded_points_to_its_card(app: SlackApp) -> None:
    body, _ = sr.message_event(user="U1", text="HighErrorRate: checkout 5xx at 12% for 10m", ts="1700000500.000100")
    app.event(body)
    (post,) = app.posted(1)
    app.slack.wait_for(lambda: app.gateway.store.message_card("CALERT", "1700000500.000100"))
    url = app.slack.response_url("dup")
    message = {"ts": "1700000500.000100", "user": "U1", "text": "HighErrorRate: checkout 5xx at 12% for 10m"}
    app.interact(sr.message_action(message, channel="CALERT", response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("dup"))
    assert "triaged already" in answer.body["text"] and post.response["ts"].replace(".", "") in answer.body["text"]
    assert len(app.slack.posts()) == 1


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_shortcut_where_the_bot_cannot_post_answers_privately(app: SlackApp, error: str) -> None:
    app.slack.channel_errors["GPRIVATE"] = error
    url = app.slack.response_url("private")
    message = {"ts": "1700000600.000100", "user": "U7", "text": "Payments DB replication lag 900s on pg-2"}
    app.interact(sr.message_action(message, channel="GPRIVATE", response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("private"))
    assert answer.body["response_type"] == "ephemeral" and answer.body["replace_original"] is False
    assert "could not post" in answer.body["text"]
    assert "/invite" in answer.body["text"]
    assert "replication lag" in blocks_text(answer.body)
    assert app.slack.posts() == []


def test_shortcut_on_a_message_without_text_says_so(app: SlackApp) -> None:
    url = app.slack.response_url("empty")
    message = {"ts": "1700000700.000100", "user": "U7", "text": "", "files": [{"id": "F1", "name": "screenshot.png"}]}
    app.interact(sr.message_action(message, response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("empty"))
    assert answer.body["response_type"] == "ephemeral" and "no text to triage" in answer.body["text"]
    assert app.slack.posts() == [] and app.gateway.store.triage_rows() == []


def test_shortcut_on_a_card_of_the_bot_is_not_triaged(app: SlackApp) -> None:
    url = app.slack.response_url("own")
    message = {"ts": "1700000800.000100", "user": "UBOT", "bot_id": "BBOT", "text": "P1 Infrastructure alert: x"}
    app.interact(sr.message_action(message, response_url=url))
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("own"))
    assert "triage card already" in answer.body["text"]
    assert app.slack.posts() == []


# -- parsing ---------------------------------------------------------------------------------------


def test_parse_message_action_needs_a_channel_and_a_message() -> None:
    assert parse_message_action({}) is None
    assert parse_message_action({"channel": {"id": "C1"}, "message": {"text": "x"}}) is None
    target = parse_message_action(
        {"channel": {"id": "C1"}, "message_ts": "1.2", "message": {"text": "<@U1> see <https://x.io|docs>"},
         "user": {"id": "U2"}},
        BotIdentity("UBOT", "BBOT"),
    )
    assert target is not None and target.thread_ts == "1.2" and target.text == "@U1 see docs"
    assert target.response_url is None and not target.own


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
))
def test_parse_message_action_never_crashes_on_odd_payloads(value: object) -> None:
    odd_message = {"ts": "1.0", "blocks": value, "attachments": value, "text": value}
    for body in ({"channel": value, "message": value}, {"channel": {"id": "C1"}, "message": odd_message}):
        target = parse_message_action(body)
        assert target is None or isinstance(target.text, str)


def test_parse_message_action_with_a_megabyte_of_blanks_is_fast_and_empty() -> None:
    target = parse_message_action({"channel": {"id": "C1"}, "message": {"ts": "1.0", "text": " \n\t" * 350_000}})
    assert target is not None and target.text == ""
