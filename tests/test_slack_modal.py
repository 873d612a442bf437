"""The /triage modal end to end: bare /triage opens it, a submission posts the card where it was sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack import modal
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import SlackApp, blocks_text, slack_app

LOG = "\n".join(
    [
        "2024-05-02T10:15:00Z INFO  orders-api starting worker pool size=16",
        *[f"2024-05-02T10:15:{n:02d}Z WARN  orders-api slow query on orders_db took {900 + n}ms" for n in range(40)],
        "2024-05-02T10:16:00Z ERROR orders-api psycopg.OperationalError: connection to orders_db refused",
        "Traceback (most recent call last):",
        '  File "/srv/orders/db.py", line 88, in connect',
        "psycopg.OperationalError: could not connect to server: Connection refused (orders-db-primary:5432)",
    ]
)


@pytest.fixture
def app(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[SlackApp]:
    with slack_app(gateways, fake_slack) as served:
        yield served


def open_modal(app: SlackApp, text: str = "", channel: str = "CDEV") -> dict[str, Any]:
    response = app.send(sr.slash_command(text, channel=channel), "application/x-www-form-urlencoded")
    assert response.text == ""
    (call,) = app.slack.wait_for(lambda: app.slack.calls_to("views.open", ok_only=True))
    assert call.args["trigger_id"]
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view


def state_values(view: dict[str, Any], text: str | None, channel: str | None) -> dict[str, Any]:
    """What Slack puts in view.state.values for the modal's inputs, read from the view it was given."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        if element.get("type") == "plain_text_input":
            values[block["block_id"]] = {element["action_id"]: {"type": "plain_text_input", "value": text}}
        elif element.get("type") == "conversations_select":
            values[block["block_id"]] = {
                element["action_id"]: {"type": "conversations_select", "selected_conversation": channel}
            }
    return values


def submit(app: SlackApp, view: dict[str, Any], text: str | None, channel: str | None, user: str = "U4") -> Any:
    submitted = {k: view[k] for k in ("type", "callback_id", "private_metadata", "blocks", "title")}
    return app.interact(sr.view_submission(submitted, state_values(view, text, channel), user=user))


@pytest.mark.parametrize("text", ["", "   "])
def test_bare_triage_opens_a_modal_with_a_multiline_input_and_a_channel_picker(app: SlackApp, text: str) -> None:
    view = open_modal(app, text, channel="CDEV")
    assert view["type"] == "modal" and view["callback_id"] == "triage_modal"
    (text_input,) = [b["element"] for b in view["blocks"] if b["element"]["type"] == "plain_text_input"]
    assert text_input["multiline"] is True
    (picker,) = [b["element"] for b in view["blocks"] if b["element"]["type"] == "conversations_select"]
    assert picker["initial_conversation"] == "CDEV" and picker["default_to_current_conversation"] is True
    assert json.loads(view["private_metadata"]) == {"channel": "CDEV"}
    assert app.slack.posts() == [] and app.gateway.store.triage_rows() == []


def test_submitting_a_long_log_posts_its_card_in_the_chosen_channel(app: SlackApp) -> None:
    view = open_modal(app)
    response = submit(app, view, LOG, "COPS", user="U4")
    assert response.text == ""  # an empty ack closes the modal
    (post,) = app.posted(1)
    assert post.args["channel"] == "COPS" and not post.args.get("thread_ts")
    card = app.card(post)
    assert "<@U4>" in blocks_text(card)
    (row,) = app.gateway.store.triage_rows()
    assert row["source"] == "slack:modal" and row["category"] == "data"
    assert "Traceback (most recent call last):\n" in row["text"] and "orders-db-primary:5432" in row["text"]


def test_a_log_beyond_the_input_limit_keeps_its_head_and_tail(gateways: GatewayFactory, fake_slack: FakeSlack) -> None:
    with slack_app(gateways, fake_slack, max_input_chars=2000) as app:
        view = open_modal(app)
        log = "FATAL head-marker: orders worker crashed\n" + "noise line\n" * 3000 + "ERROR tail-marker: OOMKilled"
        submit(app, view, log, "COPS")
        app.posted(1)
        (row,) = app.gateway.store.triage_rows()
    assert "head-marker" in row["text"] and "tail-marker" in row["text"] and len(row["text"]) < 2500
    assert json.loads(row["result"])["meta"]["truncated"] is True


@pytest.mark.parametrize("text", ["", "  \n\t  ", None])
def test_an_empty_submission_is_refused_inside_the_modal(app: SlackApp, text: str | None) -> None:
    view = open_modal(app)
    response = submit(app, view, text, "COPS")
    body = response.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [modal.TEXT_BLOCK] and body["errors"][modal.TEXT_BLOCK]
    assert app.slack.posts() == [] and app.gateway.store.triage_rows() == []


def test_without_a_picked_channel_the_card_goes_where_the_modal_was_opened(app: SlackApp) -> None:
    view = open_modal(app, channel="CHOME")
    submit(app, view, "Disk /var on db-2 at 97% and rising", None)
    (post,) = app.posted(1)
    assert post.args["channel"] == "CHOME"


def test_a_channel_the_bot_cannot_post_in_gets_the_card_by_direct_message(app: SlackApp) -> None:
    app.slack.channel_errors["GSECRET"] = "not_in_channel"
    view = open_modal(app)
    submit(app, view, "Disk /var on db-2 at 97% and rising", "GSECRET", user="U4")
    (post,) = app.posted(1)
    assert post.args["channel"] == "U4"
    assert "could not post the card" in post.args["text"] and "db-2" in blocks_text(app.card(post))


def test_help_still_answers_with_usage_and_no_modal(app: SlackApp) -> None:
    response = app.send(sr.slash_command("help"), "application/x-www-form-urlencoded")
    assert "/triage <alert text>" in response.json()["text"]
    assert app.slack.calls_to("views.open") == []


def test_when_slack_refuses_the_modal_the_usage_is_shown(app: SlackApp) -> None:
    app.slack.fail("views.open", "expired_trigger_id")
    url = app.slack.response_url("usage")
    app.send(sr.slash_command("", response_url=url), "application/x-www-form-urlencoded")
    (answer,) = app.slack.wait_for(lambda: app.slack.responses_to("usage"))
    assert answer.body["response_type"] == "ephemeral" and "/triage <alert text>" in answer.body["text"]


# -- parsing ---------------------------------------------------------------------------------------


def test_submission_values_are_found_even_under_other_block_ids() -> None:
    body = {
        "user": {"id": "U1"},
        "view": {"private_metadata": "not json", "state": {"values": {
            "b1": {"a1": {"type": "plain_text_input", "value": "line one\nline two"}},
            "b2": {"a2": {"type": "conversations_select", "selected_conversation": "C9"}},
        }}},
    }
    submission, errors = modal.parse_submission(body)
    assert errors == {} and submission == modal.Submission("line one\nline two", "C9", "U1")
    empty = {"view": {"state": {"values": {"b1": {"a1": {"type": "plain_text_input", "value": " "}}}}}}
    expected = {"b1": modal.EMPTY_ERROR, modal.CHANNEL_BLOCK: modal.NO_CHANNEL_ERROR}
    assert modal.parse_submission(empty) == (None, expected)


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
))
def test_parse_submission_never_crashes_on_odd_payloads(value: object) -> None:
    for body in ({"view": value, "user": value}, {"view": {"state": {"values": value}, "private_metadata": value}}):
        submission, errors = modal.parse_submission(body)
        assert (submission is None) == bool(errors)


def test_a_megabyte_of_blanks_is_an_empty_submission() -> None:
    values = {modal.TEXT_BLOCK: {modal.TEXT_ACTION: {"type": "plain_text_input", "value": " \n" * 500_000}}}
    body = {"view": {"state": {"values": values}, "private_metadata": json.dumps({"channel": "C1"})}}
    assert modal.parse_submission(body) == (None, {modal.TEXT_BLOCK: modal.EMPTY_ERROR})
