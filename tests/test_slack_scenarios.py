"""The Slack app end to end: signed requests to the served gateway, the fake Slack API behind it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.server import build_app
from bot.slack.actions import ACTION_CATEGORY, ACTION_CONFIRM, ACTION_SEVERITY
from bot.wiring import Gateway
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import Call, FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass
class Harness:
    gateway: Gateway
    slack: FakeSlack
    openai: FakeOpenAI
    http: httpx.Client

    def send(self, body: str, content_type: str, headers: dict[str, str] | None = None, **sign: Any) -> httpx.Response:
        all_headers = sr.signed_headers(body, content_type, **sign)
        all_headers.update(headers or {})
        return self.http.post("/slack/events", content=body.encode(), headers=all_headers)

    def command(self, text: str, **fields: Any) -> httpx.Response:
        return self.send(sr.slash_command(text, **fields), FORM)

    def event(self, event_id: str | None = None, headers: dict[str, str] | None = None, **event: Any) -> str:
        body, event_id = sr.message_event(event_id, **event)
        response = self.send(body, JSON, headers)
        assert response.status_code == 200, response.text
        return event_id

    def click(self, card: dict[str, Any], action_id: str, value: str | None = None, **fields: Any) -> httpx.Response:
        message = {"ts": card["ts"], "blocks": card["blocks"], "text": card["text"]}
        action = sr.click(card["blocks"], action_id, value)
        response = self.send(sr.block_actions(action, message=message, **fields), FORM)
        assert response.status_code == 200, response.text
        return response

    def cards(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait for `count` posted cards; return the fake's current state of each."""
        def enough() -> list[Call]:
            posts = self.slack.posts()
            return posts if len(posts) >= count else []

        posts = self.slack.wait_for(enough, timeout)
        return [self.message(p.response["channel"], p.response["ts"]) for p in posts]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        found = self.slack.message(channel, ts)
        assert found is not None
        return {**found, "channel": channel}

    def triages(self) -> list[dict[str, Any]]:
        return self.gateway.store.triage_rows()

    def feedback(self) -> list[dict[str, Any]]:
        return self.gateway.store.feedback_rows()


@pytest.fixture
def slack(gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Harness]:
    gateway = gateways.build(
        fake_openai,
        slack_bot_token="xoxb-test",
        slack_signing_secret=sr.SECRET,
        slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"],
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Harness(gateway, fake_slack, fake_openai, http)


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card["blocks"], ensure_ascii=False)


# -- /triage ---------------------------------------------------------------------------------------


def test_command_acks_before_the_model_answers_then_posts_the_card(slack: Harness) -> None:
    slack.openai.latency = 1.0
    started = time.monotonic()
    response = slack.command("KubePodCrashLooping: pod api-7f9c in prod restarted 12 times", user="U9")
    ack_seconds = time.monotonic() - started
    assert response.status_code == 200 and response.text == ""
    assert ack_seconds < 0.9, f"ack took {ack_seconds:.2f}s: it waited for the model"
    (card,) = slack.cards(1)
    assert card["channel"] == "CALERT" and "thread_ts" not in card
    assert card["blocks"][0]["type"] == "header" and ":red_circle: P1" in card["blocks"][0]["text"]["text"]
    assert "Requested by <@U9> with /triage" in card_text(card)
    assert card["text"].startswith("P1 Infrastructure alert:")
    (row,) = slack.triages()
    assert row["source"] == "slack:command" and row["engine"] == "model"
    # The post is stored right after Slack answers it: wait for that, the fake saw the call first.
    assert slack.slack.wait_for(lambda: slack.gateway.store.get_post(row["id"])) == {
        "triage_id": row["id"], "channel": "CALERT", "ts": card["ts"], "thread_ts": None, "requested_by": "U9",
        "created_at": pytest.approx(time.time(), abs=30),
    }


@pytest.mark.parametrize("text", ["help", "  --help "])
def test_help_answers_with_ephemeral_usage(slack: Harness, text: str) -> None:
    response = slack.command(text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and "/triage <alert text>" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert slack.triages() == [] and slack.slack.calls_to("chat.postMessage") == []


def test_command_where_the_bot_is_not_a_member_answers_through_the_response_url(slack: Harness) -> None:
    slack.slack.channel_errors["GPRIVATE"] = "not_in_channel"
    response_url = slack.slack.response_url("c1")
    response = slack.command("disk /var on db-2 at 97%", channel="GPRIVATE", response_url=response_url)
    assert response.status_code == 200
    (answer,) = slack.slack.wait_for(lambda: slack.slack.responses_to("c1"))
    assert answer.body["response_type"] == "in_channel"
    assert answer.body["blocks"][0]["type"] == "header" and answer.body["text"]
    assert slack.slack.posts() == []


# -- alert channels --------------------------------------------------------------------------------


def test_user_message_in_an_alert_channel_gets_a_thread_reply(slack: Harness) -> None:
    slack.event(user="U1", text="HighErrorRate: checkout 5xx at 12% for 10m", ts="1700000001.000100")
    (card,) = slack.cards(1)
    assert card["thread_ts"] == "1700000001.000100"
    (post,) = slack.slack.posts()
    assert post.args["channel"] == "CALERT" and post.args["thread_ts"] == "1700000001.000100"
    (row,) = slack.triages()
    assert row["source"] == "slack:channel" and "HighErrorRate" in row["text"]


def test_classic_bot_message_with_attachments_is_triaged(slack: Harness) -> None:
    slack.event(
        subtype="bot_message",
        bot_id="BALERTMANAGER",
        username="alertmanager",
        text="",
        attachments=[
            {
                "fallback": "[FIRING:1] NodeDown",
                "title": "[FIRING:1] NodeDown (node-3 prod)",
                "text": "node-3 has been unreachable for 5 minutes",
                "fields": [{"title": "severity", "value": "critical", "short": True}],
            }
        ],
    )
    slack.cards(1)
    (row,) = slack.triages()
    assert "NodeDown (node-3 prod)" in row["text"] and "severity: critical" in row["text"]


def test_modern_bot_post_with_blocks_is_triaged(slack: Harness) -> None:
    slack.event(
        bot_id="BGRAFANA",
        bot_profile={"id": "BGRAFANA", "name": "Grafana", "app_id": "AGRAF"},
        user="UGRAFANA",
        text="Grafana alert",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*CPU* on web-4 at 98% for 15m"}}],
    )
    slack.cards(1)
    assert "*CPU* on web-4 at 98%" in slack.triages()[0]["text"]


def test_own_messages_edits_deletions_joins_replies_and_other_channels_are_ignored(slack: Harness) -> None:
    slack.event(subtype="bot_message", bot_id="BBOT", text="our own card")
    slack.event(bot_id="BBOT", bot_profile={"id": "BBOT"}, user="UBOT", text="our own modern card")
    slack.event(
        subtype="message_changed", hidden=True, message={"type": "message", "user": "U1", "text": "edited alert"}
    )
    slack.event(subtype="message_deleted", hidden=True, deleted_ts="1.0")
    slack.event(subtype="channel_join", user="U5", text="<@U5> has joined the channel")
    slack.event(user="U1", text="looking into it", thread_ts="1699999999.000001")
    slack.event(user="U1", text="disk full on db-9", channel="CRANDOM")
    # A real alert last: once its card is there, everything before it has been handled.
    slack.event(user="U1", text="Disk full on db-2: 100% of /var used")
    slack.cards(1)
    assert len(slack.triages()) == 1 and "db-2" in slack.triages()[0]["text"]
    assert len(slack.slack.calls_to("chat.postMessage")) == 1


def test_redelivery_never_gives_a_second_card_or_model_call(slack: Harness) -> None:
    slack.openai.latency = 0.5
    body, _ = sr.message_event(user="U1", text="RedisDown: cache-1 unreachable", ts="1700000002.000200")
    first = slack.send(body, JSON)
    retries = [
        slack.send(body, JSON, {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        for n in (1, 2, 3)
    ]
    assert first.status_code == 200 and all(r.status_code == 200 for r in retries)
    # The same message under a new event id (Slack does not promise ids are unique per message).
    slack.event(user="U1", text="RedisDown: cache-1 unreachable", ts="1700000002.000200")
    slack.event(user="U1", text="barrier alert: api latency p99 4s")
    slack.cards(2)
    assert slack.openai.calls == 2
    texts = [row["text"] for row in slack.triages()]
    assert texts.count("RedisDown: cache-1 unreachable") == 1
    assert len(slack.slack.posts()) == 2


def test_rate_limited_post_is_delayed_not_lost(slack: Harness) -> None:
    slack.slack.rate_limit("chat.postMessage", times=2, retry_after=1)
    slack.event(user="U1", text="Certificate for api.example.com expires in 2 days")
    (card,) = slack.cards(1, timeout=10)
    statuses = [c.status for c in slack.slack.calls_to("chat.postMessage")]
    assert statuses == [429, 429, 200]
    assert card["blocks"][0]["type"] == "header"


# -- clicks ----------------------------------------------------------------------------------------


def posted_card(slack: Harness) -> dict[str, Any]:
    slack.event(user="U1", text="Postgres replication lag 300s on db-2")
    (card,) = slack.cards(1)
    return card


def test_confirm_stores_feedback_and_updates_the_card_once_for_a_double_click(slack: Harness) -> None:
    card = posted_card(slack)
    slack.click(card, ACTION_CONFIRM, user="U2")
    slack.click(card, ACTION_CONFIRM, user="U2")
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    (row,) = slack.feedback()
    triage = slack.triages()[0]
    assert (row["triage_id"], row["user"], row["action"]) == (triage["id"], "U2", "confirm")
    assert (row["model"], row["prompt_version"]) == (triage["model"], triage["prompt_version"])
    # A different user's click afterwards is the barrier: the double click was handled before it.
    slack.click(card, ACTION_CONFIRM, user="U3")
    slack.slack.wait_for(lambda: len(slack.slack.calls_to("chat.update")) == 2)
    assert [r["user"] for r in slack.feedback()] == ["U2", "U3"]
    updated = slack.message(card["channel"], card["ts"])
    assert "Confirmed by <@U2>" in card_text(updated) and "Confirmed by <@U3>" in card_text(updated)
    assert updated["text"].endswith("confirmed by <@U3> (+1 earlier)")  # the latest verdict; the card has all
    update = slack.slack.calls_to("chat.update")[0]
    assert (update.args["channel"], update.args["ts"]) == ("CALERT", card["ts"])


def test_severity_and_category_selects_override_and_show_who(slack: Harness) -> None:
    card = posted_card(slack)
    slack.click(card, ACTION_SEVERITY, "P0", user="U2")
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    card = slack.message(card["channel"], card["ts"])
    slack.click(card, ACTION_CATEGORY, "data", user="U3")
    slack.slack.wait_for(lambda: len(slack.slack.calls_to("chat.update")) == 2)
    rows = slack.feedback()
    assert [(r["user"], r["action"], r["old_value"], r["new_value"]) for r in rows] == [
        ("U2", "severity", "P1", "P0"),
        ("U3", "category", "infra", "data"),
    ]
    updated = slack.message(card["channel"], card["ts"])
    assert updated["blocks"][0]["text"]["text"].startswith(":rotating_light: P0")
    assert "Severity changed P1 → P0 by <@U2>" in card_text(updated)
    assert "Category changed infra → data by <@U3>" in card_text(updated)


def test_repeated_or_unchanged_choices_are_idempotent(slack: Harness) -> None:
    card = posted_card(slack)
    slack.click(card, ACTION_SEVERITY, "P1", user="U2")  # the value already shown: no change
    slack.click(card, ACTION_SEVERITY, "P2", user="U2")
    slack.click(card, ACTION_SEVERITY, "P2", user="U2")
    slack.click(card, ACTION_CONFIRM, user="U4")  # barrier
    slack.slack.wait_for(lambda: len(slack.feedback()) == 2 and len(slack.slack.calls_to("chat.update")) == 2)
    assert [(r["action"], r["new_value"]) for r in slack.feedback()] == [("severity", "P2"), ("confirm", "P2/infra")]


def test_click_on_an_unknown_card_gets_a_polite_ephemeral_answer(slack: Harness) -> None:
    action = {"action_id": ACTION_CONFIRM, "block_id": "triage_actions:gone", "type": "button", "value": "gone"}
    body = sr.block_actions(action, response_url=slack.slack.response_url("stale"))
    response = slack.send(body, FORM)
    assert response.status_code == 200
    (answer,) = slack.slack.wait_for(lambda: slack.slack.responses_to("stale"))
    assert answer.body["response_type"] == "ephemeral" and answer.body["replace_original"] is False
    assert "no longer known" in answer.body["text"]
    assert slack.feedback() == []


def test_click_on_a_card_answered_through_a_response_url_replaces_it_there(slack: Harness) -> None:
    slack.slack.channel_errors["DPRIVATE"] = "channel_not_found"
    slack.command("OOMKilled: worker-2 in batch", channel="DPRIVATE", response_url=slack.slack.response_url("c2"))
    (answer,) = slack.slack.wait_for(lambda: slack.slack.responses_to("c2"))
    card = {"ts": "1700000003.000300", "blocks": answer.body["blocks"], "text": answer.body["text"]}
    slack.click(card, ACTION_CONFIRM, user="U2", channel="DPRIVATE", response_url=slack.slack.response_url("a2"))
    (replaced,) = slack.slack.wait_for(lambda: slack.slack.responses_to("a2"))
    assert replaced.body["replace_original"] is True
    assert "Confirmed by <@U2>" in json.dumps(replaced.body["blocks"])
    assert "Requested by <@U1>" in json.dumps(replaced.body["blocks"])


# -- the door --------------------------------------------------------------------------------------


def test_bad_signature_and_old_timestamp_are_refused(slack: Harness) -> None:
    body = sr.slash_command("disk full")
    assert slack.send(body, FORM, secret="wrong-secret").status_code == 401
    assert slack.send(body, FORM, timestamp=int(time.time()) - 301).status_code == 401
    unsigned = slack.http.post("/slack/events", content=body.encode(), headers={"Content-Type": FORM})
    assert unsigned.status_code == 401
    assert slack.triages() == []


def test_url_verification_answers_the_challenge(slack: Harness) -> None:
    body = json.dumps({"token": "t", "challenge": "abc123", "type": "url_verification"})
    response = slack.send(body, JSON)
    assert response.status_code == 200 and response.json() == {"challenge": "abc123"}


def test_concurrent_commands_all_ack_quickly(slack: Harness) -> None:
    slack.openai.latency = 0.5

    def one(n: int) -> float:
        started = time.monotonic()
        assert slack.command(f"alert number {n}: api 5xx rising").status_code == 200
        return time.monotonic() - started

    with ThreadPoolExecutor(10) as pool:
        durations = list(pool.map(one, range(10)))
    assert max(durations) < 0.5
    assert len(slack.cards(10)) == 10


# -- reviewer group --------------------------------------------------------------------------------


@pytest.fixture
def reviewed(gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Harness]:
    # The heuristic engine here (no model configured): the fake OpenAI server only fills the harness.
    gateway = gateways.build(
        slack_bot_token="xoxb-test",
        slack_signing_secret=sr.SECRET,
        slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"],
        reviewer_group="SREVIEW",
    )
    fake_slack.usergroups["SREVIEW"] = ["U2"]
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Harness(gateway, fake_slack, fake_openai, http)


def test_every_verdict_is_limited_to_the_reviewer_group(reviewed: Harness) -> None:
    card = posted_card(reviewed)
    reviewed.click(card, ACTION_SEVERITY, "P0", user="U3", response_url=reviewed.slack.response_url("u3"))
    reviewed.click(card, ACTION_CONFIRM, user="U3")
    reviewed.slack.wait_for(lambda: len(reviewed.slack.calls_to("chat.postEphemeral")) == 2)
    denied = reviewed.slack.calls_to("chat.postEphemeral")
    assert all(call.args["user"] == "U3" and "reviewer group" in call.args["text"] for call in denied)
    reviewed.click(card, ACTION_SEVERITY, "P0", user="U2")
    reviewed.slack.wait_for(lambda: len(reviewed.feedback()) == 1)
    assert [(r["user"], r["action"]) for r in reviewed.feedback()] == [("U2", "severity")]
    assert len(reviewed.slack.calls_to("usergroups.users.list")) == 1
