"""One builder for a card's state: a click on a coalesced card keeps its counter and resolution."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.alerts.incidents import Incident
from bot.server import build_app
from bot.slack.actions import ACTION_CONFIRM
from bot.slack.card_state import card_state
from tests.conftest import GatewayFactory
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.servers import serve

CHANNEL = "CALERT"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def served(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[httpx.Client]:
    gateway = gateways.build(
        slack_bot_token="xoxb-test", slack_signing_secret=sr.SECRET, slack_api_url=fake_slack.base_url,
        alert_channels=[CHANNEL], slack_post_interval=0.05, counter_interval=0.2,
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield http


def send(http: httpx.Client, body: str, content_type: str) -> None:
    response = http.post("/slack/events", content=body.encode(), headers=sr.signed_headers(body, content_type))
    assert response.status_code == 200, response.text


def shows(fake_slack: FakeSlack, ts: str, *words: str) -> bool:
    text = json.dumps((fake_slack.message(CHANNEL, ts) or {}).get("blocks"))
    return all(word in text for word in words)


def test_confirm_on_a_coalesced_card_keeps_its_counter_and_names_the_confirmer(
    served: httpx.Client, fake_slack: FakeSlack
) -> None:
    base = time.time()
    for n in range(3):
        body, _ = sr.message_event(subtype="bot_message", bot_id="BALERTS",
                                   text=f"[FIRING:1] DiskFull on db-1 | disk {90 + n}% full",
                                   ts=f"{base + n / 1000:.6f}", channel=CHANNEL)
        send(served, body, "application/json")
    (post,) = fake_slack.wait_for(lambda: fake_slack.posts() or None, timeout=10)
    ts = post.response["ts"]
    fake_slack.wait_for(lambda: shows(fake_slack, ts, "Seen 3 times"), timeout=10)
    card = fake_slack.message(CHANNEL, ts)
    assert card is not None
    message = {"ts": ts, "blocks": card["blocks"], "text": card["text"]}
    click = sr.block_actions(sr.click(card["blocks"], ACTION_CONFIRM), user="U5", channel=CHANNEL, message=message)
    send(served, click, FORM)
    fake_slack.wait_for(lambda: shows(fake_slack, ts, "Confirmed by <@U5>"), timeout=10)
    assert shows(fake_slack, ts, "Seen 3 times", "Confirmed by <@U5>")
    # A resolved notice afterwards keeps the confirmation too.
    body, _ = sr.message_event(subtype="bot_message", bot_id="BALERTS",
                               text="[RESOLVED] DiskFull on db-1 | disk 60% full",
                               ts=f"{time.time():.6f}", channel=CHANNEL)
    send(served, body, "application/json")
    fake_slack.wait_for(lambda: shows(fake_slack, ts, "Seen 4 times", "Confirmed by <@U5>"), timeout=10)


def test_card_state_of_an_incident_carries_its_counter_resolution_and_requester() -> None:
    incident = Incident(id="i1", fingerprint="f", channel="C", thread_ts=None, count=5, first_seen=1.0,
                        last_seen=2.0, triage_id="t", card_ts="1.1", resolved=True, dirty=False, shown_at=0.0,
                        places=("node-1",))
    state = card_state(incident, requested_by="U1", updated_by_model=True)
    assert (state.seen_count, state.resolved, state.resolved_at, state.places) == (5, True, 2.0, ("node-1",))
    assert state.requested_by == "U1" and state.updated_by_model
    plain = card_state(None, requested_by="U2")
    assert plain.seen_count == 1 and not plain.resolved and plain.requested_by == "U2"
